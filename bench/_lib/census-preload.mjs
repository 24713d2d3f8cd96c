/**
 * Census of an idle daemon's periodic work (issue 10), loaded with `node --import` into a
 * `dmsnet up` process of the unbundled build (dist/): it wraps a few prototypes of the libp2p
 * modules the daemon itself imports (same file URL, so the same module instance) and counts, by
 * kind and by the code that caused them: peer-store writes, streams by protocol and direction,
 * yamux frames by type, gossipsub RPCs by content, socket writes, and timer callbacks by the place
 * that armed them. Every 5 s it writes the cumulative counts to
 * `$DMSNET_CENSUS_DIR/census-<pid>.json`; bench/census.ts diffs two snapshots.
 * The wrappers cost CPU themselves (stack traces): measure CPU in a run without this preload.
 */
import { writeFileSync } from 'node:fs'
import net from 'node:net'
import process from 'node:process'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

const realSetInterval = globalThis.setInterval
const root = process.env.DMSNET_CENSUS_ROOT ?? process.cwd()
const dir = process.env.DMSNET_CENSUS_DIR ?? '/tmp'
const counts = {}
const bump = (group, key, n = 1) => {
  const g = (counts[group] ??= {})
  g[key] = (g[key] ?? 0) + n
}

/** The first stack frames outside node internals, this file and the wrapped module: who caused it. */
function site (skip = [], depth = 3) {
  const lines = (new Error().stack ?? '').split('\n').slice(2)
  const out = []
  for (const l of lines) {
    if (l.includes('census-preload') || l.includes('node:internal') || l.includes('node:events') || skip.some(s => l.includes(s))) continue
    const m = /at (?:async )?(\S+)? ?\(?(.*node_modules\/)?([^():]+):(\d+)/.exec(l.trim())
    if (m == null) continue
    out.push(`${m[1] ?? '?'}@${(m[3] ?? '').replace(/^.*\/(dist\/)?/, '')}:${m[4]}`)
    if (out.length >= depth) break
  }
  return out.join(' < ') || '?'
}

async function load (rel) {
  try {
    return await import(pathToFileURL(join(root, 'node_modules', rel)).href)
  } catch (err) {
    bump('census_errors', `${rel}: ${err.message}`)
    return undefined
  }
}

const store = await load('@libp2p/peer-store/dist/src/store.js')
if (store?.PersistentStore != null) {
  for (const m of ['save', 'patch', 'merge', 'delete']) {
    const orig = store.PersistentStore.prototype[m]
    store.PersistentStore.prototype[m] = function (peerId, data, options) {
      const what = data != null && typeof data === 'object' ? Object.keys(data).filter(k => data[k] != null).sort().join('+') : ''
      bump('peerstore_writes', `${m}(${what}) ${site(['peer-store/dist'])}`)
      bump('peerstore_writes_total', m)
      return orig.call(this, peerId, data, options)
    }
  }
  // reads: one record (get, getInfo, has, and a write's read of the old record) or all of them
  const loadOne = store.PersistentStore.prototype.load
  store.PersistentStore.prototype.load = function (peerId, options) {
    bump('peerstore_reads', `load ${site(['peer-store/dist'])}`)
    return loadOne.call(this, peerId, options)
  }
  const loadAll = store.PersistentStore.prototype.all
  store.PersistentStore.prototype.all = function (query) {
    bump('peerstore_reads', `all ${site(['peer-store/dist', 'it-all'])}`)
    return loadAll.call(this, query)
  }
}

const reg = await load('libp2p/dist/src/registrar.js')
if (reg?.Registrar != null) {
  const orig = reg.Registrar.prototype.getMiddleware
  reg.Registrar.prototype.getMiddleware = function (protocol) {
    // called once per negotiated stream, both directions: the caller says which
    const dir = / at (?:async )?Connection\.onIncomingStream/.test(new Error().stack ?? '') ? 'in' : 'out'
    bump('streams', `${dir} ${protocol}`)
    return orig.call(this, protocol)
  }
}

const yamux = await load('@libp2p/yamux/dist/src/muxer.js')
const FRAME = ['data', 'window_update', 'ping', 'go_away']
if (yamux?.YamuxMuxer != null) {
  const send = yamux.YamuxMuxer.prototype.sendFrame
  yamux.YamuxMuxer.prototype.sendFrame = function (header, data) {
    bump('yamux_sent', `${FRAME[header.type] ?? header.type}${(header.flag & 1) !== 0 ? '+SYN' : ''}`)
    return send.call(this, header, data)
  }
  const handle = yamux.YamuxMuxer.prototype.handleFrame
  yamux.YamuxMuxer.prototype.handleFrame = function (frame) {
    const h = frame.header ?? frame
    bump('yamux_received', `${FRAME[h.type] ?? h.type}${(h.flag & 1) !== 0 ? '+SYN' : ''}`)
    return handle.call(this, frame)
  }
}

const gs = await load('@libp2p/gossipsub/dist/src/gossipsub.js')
if (gs?.GossipSub != null) {
  const kinds = rpc => {
    const k = []
    if ((rpc.subscriptions?.length ?? 0) > 0) k.push('subs')
    if ((rpc.messages?.length ?? 0) > 0) k.push('msgs')
    const c = rpc.control
    if (c != null) for (const x of ['ihave', 'iwant', 'graft', 'prune', 'idontwant']) if ((c[x]?.length ?? 0) > 0) k.push(x)
    return k.join('+') || 'empty'
  }
  const send = gs.GossipSub.prototype.sendRpc
  gs.GossipSub.prototype.sendRpc = function (id, rpc) {
    bump('gossip_sent', kinds(rpc))
    return send.call(this, id, rpc)
  }
  const recv = gs.GossipSub.prototype.handleReceivedRpc
  gs.GossipSub.prototype.handleReceivedRpc = function (from, rpc) {
    bump('gossip_received', kinds(rpc))
    return recv.call(this, from, rpc)
  }
  const hb = gs.GossipSub.prototype.heartbeat
  if (hb != null) {
    gs.GossipSub.prototype.heartbeat = function (...a) {
      bump('gossip_heartbeats', 'heartbeat')
      return hb.apply(this, a)
    }
  }
}

const write = net.Socket.prototype.write
net.Socket.prototype.write = function (chunk, ...rest) {
  bump('socket_writes', 'writes')
  bump('socket_writes', 'bytes', chunk?.length ?? 0)
  return write.call(this, chunk, ...rest)
}

// timers: count each callback run under the place that armed it
for (const name of ['setTimeout', 'setInterval']) {
  const orig = globalThis[name]
  globalThis[name] = function (fn, ms, ...args) {
    if (typeof fn !== 'function') return orig.call(this, fn, ms, ...args)
    const where = `${name}(${typeof ms === 'number' ? ms : '?'}) ${site([], 2)}`
    bump('timers_armed', where)
    return orig.call(this, function (...a) {
      bump('timers_fired', where)
      return fn.apply(this, a)
    }, ms, ...args)
  }
}

const file = join(dir, `census-${process.pid}.json`)
const dump = () => {
  try {
    writeFileSync(file, JSON.stringify({ at: Date.now(), cpu: process.cpuUsage(), counts }))
  } catch { /* the run's directory went away */ }
}
// armed with the real setInterval: the census does not count itself
const t = realSetInterval(dump, 5000)
t.unref()
process.on('exit', dump)
