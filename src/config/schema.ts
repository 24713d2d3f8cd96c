/**
 * The one zod schema for a dmsnet node's configuration, with every default.
 *
 * Every leaf carries an `expected` text so a `ConfigError` can say, per key, what it wanted.
 * Objects are strict: an unknown key (a typo) is an error, not silently ignored. Paths that
 * depend on `dataDir` default to the empty string and are resolved after parsing.
 */
import { homedir } from 'node:os'
import { isIP } from 'node:net'
import { isAbsolute, join, resolve } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import './zod-prime.js' // before any schema: see there
import { z } from 'zod'
import { isPrivatePrefix, parseCidr } from '../util/ip.js'

function posInt (expected = 'a positive integer'): z.ZodNumber {
  return z.number({ error: expected }).int({ error: expected }).positive({ error: expected })
}

function nonNegInt (expected = 'a non-negative integer'): z.ZodNumber {
  return z.number({ error: expected }).int({ error: expected }).nonnegative({ error: expected })
}

function bool (): z.ZodBoolean {
  return z.boolean({ error: 'a boolean (true/false)' })
}

function str (expected = 'a string'): z.ZodString {
  return z.string({ error: expected })
}

function isMultiaddr (s: string): boolean {
  try {
    multiaddr(s)
    return s.startsWith('/')
  } catch {
    return false
  }
}

function isPeerId (s: string): boolean {
  try {
    peerIdFromString(s)
    return true
  } catch {
    return false
  }
}

/** Parses `a.b.c.d/n`; returns undefined when malformed. */
export function parseIPv4Cidr (s: string): { network: number, prefix: number } | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(s)
  if (m == null) return undefined
  const octets = m.slice(1, 5).map(Number)
  const prefix = Number(m[5])
  if (octets.some(o => o > 255) || prefix > 32) return undefined
  const addr = ((octets[0]! << 24) | (octets[1]! << 16) | (octets[2]! << 8) | octets[3]!) >>> 0
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0
  if ((addr & mask) >>> 0 !== addr) return undefined // host bits set
  return { network: addr, prefix }
}

/** True when `s` is a CIDR inside 100.64.0.0/10 (CGNAT space, as Tailscale and Hyprspace use). */
export function isCgnatSubnet (s: string): boolean {
  const c = parseIPv4Cidr(s)
  if (c == null || c.prefix < 10 || c.prefix > 30) return false
  const cgnat = 0x64400000 // 100.64.0.0
  return ((c.network & 0xffc00000) >>> 0) === cgnat
}

/** True when `s` is a prefix inside private space (the VPN policy's bound on `vpn.acceptRanges`). */
function isPrivateRange (s: string): boolean {
  try {
    return isPrivatePrefix(parseCidr(s))
  } catch {
    return false
  }
}

/** True when `s` is an IPv6 unique-local prefix (fd00::/8) of length 48 to 64. */
export function isUlaPrefix (s: string): boolean {
  const m = /^([0-9a-fA-F:]+)\/(\d{1,3})$/.exec(s)
  if (m == null) return false
  const len = Number(m[2])
  if (len < 48 || len > 64) return false
  const addr = m[1]!.toLowerCase()
  if (!/^fd[0-9a-f]{0,2}:/.test(addr)) return false
  const halves = addr.split('::')
  if (halves.length > 2) return false
  const groups = halves.flatMap(h => h === '' ? [] : h.split(':'))
  if (groups.some(g => !/^[0-9a-f]{1,4}$/.test(g))) return false
  return halves.length === 2 ? groups.length < 8 : groups.length === 8
}

/** `1.2.3.4`, `1.2.3.4:53`, `fd00::1`, `[fd00::1]:53` (mirrors parseUpstream in src/vpn/dns-forward.ts). */
function isDnsUpstream (s: string): boolean {
  const m = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(s) ?? /^([\d.]+)(?::(\d{1,5}))?$/.exec(s) ?? [s, s, undefined]
  const port = m[2] == null ? 53 : Number(m[2])
  return isIP(m[1]!) !== 0 && port >= 1 && port <= 65535
}

/**
 * Builds the schema of the raw configuration (before `finish` resolves paths). A function, not a
 * module constant (issue 10): its ~700 zod objects are garbage once the config is parsed, instead
 * of held by every daemon for its whole life.
 */
export function rawConfigSchema () {
  const multiaddrString = str('a multiaddr string such as /ip4/0.0.0.0/tcp/9000').refine(isMultiaddr, { error: 'a multiaddr string such as /ip4/0.0.0.0/tcp/9000' })
  const multiaddrList = z.array(multiaddrString, { error: 'a list of multiaddrs' })
  const bootstrapAddr = str('a multiaddr ending in /p2p/<peer id>').refine(s => isMultiaddr(s) && /\/p2p\/[^/]+$/.test(s), { error: 'a multiaddr ending in /p2p/<peer id>' })
  const peerIdList = z.array(str('a peer id').refine(isPeerId, { error: 'a peer id (e.g. 12D3KooW...)' }), { error: 'a list of peer ids' })

  const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { error: 'one of fatal, error, warn, info, debug, trace, silent' })

  const DhtSchema = z.strictObject({
    /** `/dmsnet` -> the DHT speaks `/dmsnet/kad/1.0.0`; a private swarm uses its own prefix. */
    protocolPrefix: str('a protocol prefix starting with /').regex(/^\/[^\s]*[^/\s]$/, { error: 'a protocol prefix starting with / (e.g. /dmsnet)' }).default('/dmsnet'),
    /** auto (default): serve DHT queries from the start, like `server` (docs/config.md says why). */
    mode: z.enum(['auto', 'client', 'server'], { error: 'one of auto, client, server' }).default('auto'),
    /** Which peer addresses the DHT stores and hands out: public only, private only or all. */
    addressFilter: z.enum(['public', 'private', 'all'], { error: 'one of public, private, all' }).default('all'),
    kBucketSize: posInt().default(20),
    /** Milliseconds between self-queries that keep the routing table fresh. */
    querySelfIntervalMs: posInt().default(300_000),
    /** Concurrent DHT streams per connection a peer may open / we open (kad-dht's defaults). */
    maxInboundStreams: posInt().default(32),
    maxOutboundStreams: posInt().default(64),
    // issue 10, lookup latency at scale (docs/scale.md "third round"): kad-dht's defaults (10 paths
    // x 10 in flight) open ~20 streams at once per lookup, and on a busy node the first answer waits
    // for all of them; 3 x 3 asks <= 9 at once, closest first per path, and 3 independent paths
    // still explore enough (1 path missed 2 of 50 targets at N=50)
    /** Queries in flight per lookup path (kad-dht's `alpha`; its default 10). */
    alpha: posInt().default(3),
    /** Disjoint paths a lookup splits its starting peers into (kad-dht's `disjointPaths`; its default = alpha). */
    disjointPaths: posInt().default(3),
    // issue 10, idle CPU at N=100 (src/network/dht-refresh.ts, dht-self-query.ts)
    /**
     * Periodic routing-table refresh, per common-prefix length, while it finds new peers; 0 = none.
     * kad-dht 16.4 never runs its own (its refresh is not Startable), so 0 is what nodes always did.
     */
    refreshIntervalMs: nonNegInt().default(0),
    /** Ceiling of the refresh's and the self-query's period while they find nobody new (doubling from their base). */
    upkeepMaxIntervalMs: posInt().default(1_800_000)
  }).prefault({})

  /** Resource caps of gossipsub (pubsub): per connection, per peer. */
  const PubsubSchema = z.strictObject({
    maxInboundStreams: posInt().default(8),
    maxOutboundStreams: posInt().default(8),
    /** Gossip queued for one slow peer before its stream is cut (gossipsub's default: unlimited). */
    maxOutboundBufferSize: posInt().default(8 * 1024 * 1024),
    /** Inbound gossip RPCs whose data is larger are not decoded. */
    maxInboundDataLength: posInt().default(4 * 1024 * 1024),
    /**
     * gossipsub's mesh degree D and its bounds (gossipsub's own: 6, 4-12), and the peers gossip
     * (IHAVE) goes to each heartbeat: at least `gossipDegree`, or `gossipFactor` of the non-mesh
     * peers (its own: 6, 0.25). Every copy is a write and a read at each end (docs/network.md).
     */
    meshDegree: posInt().default(4),
    meshDegreeLow: posInt().default(3),
    meshDegreeHigh: posInt().default(6),
    gossipDegree: nonNegInt().default(3),
    gossipFactor: z.number({ error: 'a number from 0 to 1' }).min(0, { error: 'a number from 0 to 1' }).max(1, { error: 'a number from 0 to 1' }).default(0)
  }).refine(c => c.meshDegreeLow <= c.meshDegree && c.meshDegree <= c.meshDegreeHigh, {
    error: 'meshDegreeLow <= meshDegree <= meshDegreeHigh', path: ['meshDegree']
  }).prefault({})

  const MdnsSchema = z.strictObject({
    /** Defaults to true on the `lan` profile, false on `server`. */
    enabled: bool().optional(),
    intervalMs: posInt().default(10_000),
    serviceTag: str().min(1, { error: 'a non-empty string' }).default('_dmsnet-discovery._udp.local')
  }).prefault({})

  const RelaySchema = z.strictObject({
    /** Dial and listen through circuit relays (needed behind NAT). */
    client: bool().default(true),
    /** Serve as a relay for others (only sensible on a public host). */
    server: bool().default(false),
    maxReservations: posInt().default(128),
    /** Per relayed connection, like the Go relay defaults. */
    durationLimitMs: posInt().default(120_000),
    dataLimitBytes: posInt().default(131_072)
  }).prefault({})

  /**
   * Pacing of libp2p's random walk (relay discovery, AutoNAT): without it an idle node in a network
   * with no relay server runs DHT lookups back to back (src/network/paced-walk.ts).
   */
  const RandomWalkSchema = z.strictObject({
    /** Pause after a lookup that found a new peer. */
    minIntervalMs: posInt().default(5_000),
    /** Ceiling of the doubling pause while lookups find nothing new. */
    maxIntervalMs: posInt().default(300_000),
    /** No walk at all while this many peers are connected (src/network/walk-gate.ts, issue 10); 0 = never stop. */
    stopAtConnections: nonNegInt().default(16)
  }).prefault({})

  const ConnectionManagerSchema = z.strictObject({
    /** Go's high water mark is 400 connections; js-libp2p's default is 300. */
    maxConnections: posInt().default(400),
    maxIncomingPendingConnections: posInt().default(32),
    maxParallelDials: posInt().default(100),
    dialTimeoutMs: posInt().default(10_000),
    /** Inbound connection attempts per host per second before it is refused. */
    inboundConnectionThreshold: posInt().default(10),
    // -- connection keeper (issue 10, src/network/connection-keeper.ts) --
    /** Low-water mark: below this many connected peers, known peers are dialed. 0 = off. */
    minConnections: nonNegInt().default(8),
    /** Time between the keeper's checks (each dials at most 4 peers). */
    keeperIntervalMs: posInt().default(10_000),
    /**
     * High-water mark (issue 10): above this many connected peers the keeper closes the least valued
     * connections down to `lowWater` (never keep-alive peers, never younger than `trimGracePeriodMs`).
     * `maxConnections` stays the hard limit, where libp2p refuses inbound connections. 0 = no trim.
     */
    highWater: nonNegInt().default(64),
    lowWater: nonNegInt().default(32),
    trimGracePeriodMs: posInt().default(60_000)
  }).refine(c => c.highWater === 0 || c.lowWater <= c.highWater, {
    error: 'a low-water mark no higher than network.connectionManager.highWater', path: ['lowWater']
  }).prefault({})

  /**
   * Connection liveness (issue 10): every connection's muxer is pinged (one yamux ping frame; no
   * stream, src/network/connection-pings.ts) and a ping unanswered within the timeout closes the
   * connection. libp2p's own monitor (a ping stream every 10 s, fail after 5 s+) cost an idle node
   * a stream per connection every 10 s and, on a busy host or a slow link, killed healthy
   * connections, whose re-dials (noise, identify, gossipsub, DHT) cost far more than the pings.
   */
  const ConnectionMonitorSchema = z.strictObject({
    pingIntervalMs: posInt().default(60_000),
    /** A ping slower than this (and than libp2p's adaptive estimate) fails and closes the connection. */
    pingTimeoutMs: posInt().default(30_000)
  }).prefault({})

  const YamuxSchema = z.strictObject({
    /**
     * A larger initial window lets one stream fill a fast link without waiting for window updates
     * (baselines: 256 KiB -> 16 MiB doubled a tunnel's throughput).
     */
    initialStreamWindowSize: posInt().min(262_144, { error: 'an integer >= 262144 (256 KiB)' }).max(2 ** 32 - 1, { error: 'an integer < 2^32' }).default(262_144),
    maxStreamWindowSize: posInt().min(262_144, { error: 'an integer >= 262144 (256 KiB)' }).max(2 ** 32 - 1, { error: 'an integer < 2^32' }).default(16 * 1024 * 1024),
    /**
     * yamux's own keep-alive ping, 0 = off (issue 10): the connection pings
     * (`network.connectionMonitor`) already ping every connection's muxer, with a timeout.
     */
    keepAliveIntervalMs: nonNegInt().default(0),
    /**
     * Largest yamux data frame we send (0 = as large as the peer's window allows). A frame is
     * usable only once it fully arrived: multi-MiB frames stall the pipeline, small ones cost CPU;
     * 1 MiB measured best on loopback (bench/stream.ts --frame).
     */
    maxFrameSize: nonNegInt().default(1_048_576),
    /**
     * Memory for receive windows beyond the spec's 256 KiB per stream (windows grow only for
     * streams that fill them; src/network/yamux-window.ts): per connection and for the whole node.
     */
    connectionWindowBudget: nonNegInt().default(32 * 1024 * 1024),
    globalWindowBudget: nonNegInt().default(64 * 1024 * 1024),
    /** Streams a peer may open on one connection (js-yamux's default: 1000). */
    maxInboundStreams: posInt().default(256)
  }).prefault({})

  const NetworkSchema = z.strictObject({
    listen: multiaddrList.default(['/ip4/0.0.0.0/tcp/9000', '/ip4/0.0.0.0/tcp/9001/ws']),
    /** Addresses to announce instead of the listen addresses (public IP, DNS name). */
    announce: multiaddrList.default([]),
    bootstrap: z.array(bootstrapAddr, { error: 'a list of multiaddrs ending in /p2p/<peer id>' }).default([]),
    /** Path of the identity key; default `<dataDir>/identity.key`. */
    identityFile: str().default(''),
    dht: DhtSchema,
    mdns: MdnsSchema,
    autonat: z.strictObject({ enabled: bool().default(true) }).prefault({}),
    relay: RelaySchema,
    dcutr: z.strictObject({ enabled: bool().default(true) }).prefault({}),
    upnp: z.strictObject({ enabled: bool().default(false) }).prefault({}),
    connectionManager: ConnectionManagerSchema,
    connectionMonitor: ConnectionMonitorSchema,
    yamux: YamuxSchema,
    randomWalk: RandomWalkSchema,
    pubsub: PubsubSchema,
    /** While the node has no connection: re-dial the bootstrap list after this long, doubling up to 5 min (src/network/bootstrap-redial.ts). */
    bootstrapRedialMs: posInt().default(15_000),
    /** Peers never allowed to connect (either direction). */
    denyPeers: peerIdList.default([]),
    /** If non-empty, only these peers may connect (either direction). Empty = anyone. */
    allowPeers: peerIdList.default([])
  }).prefault({})

  return z.strictObject({
    dataDir: str('a directory path').min(1, { error: 'a non-empty directory path' }).default('~/.dmsnet'),
    /** Sets the default of `network.mdns.enabled` (on for `lan`); nothing else. */
    profile: z.enum(['server', 'lan'], { error: 'one of server, lan' }).default('server'),
    network: NetworkSchema,
    logging: z.strictObject({ level: logLevel.default('info') }).prefault({}),
    metrics: z.strictObject({
      enabled: bool().default(false),
      host: str('a host name or IP address').min(1).default('127.0.0.1'),
      port: nonNegInt('a port number (0-65535)').max(65535, { error: 'a port number (0-65535)' }).default(9464)
    }).prefault({}),
    control: z.strictObject({
      /** Unix socket of the local control API; default `<dataDir>/control.sock`. */
      socket: str().default('')
    }).prefault({}),
    /** The status page (src/ui): loopback only, reached through a one-time link from `dmsnet ui`. */
    ui: z.strictObject({
      enabled: bool().default(true),
      host: str('a loopback address').min(1).default('127.0.0.1'),
      /** 0 = any free port (`dmsnet ui` prints the address either way). */
      port: nonNegInt('a port number (0-65535)').max(65535, { error: 'a port number (0-65535)' }).default(0)
    }).prefault({}),
    messaging: z.strictObject({
      maxMessageSize: posInt().default(1_048_576),
      ackTimeoutMs: posInt().default(10_000),
      maxInFlight: posInt().default(256),
      replayWindowMs: posInt().default(120_000),
      defaultExpiryMs: posInt().default(60_000),
      /** Sign every direct message too (1.0.0 envelope); off: the Noise connection authenticates the sender (docs/messaging.md). */
      signDirect: bool().default(false)
    }).prefault({}),
    swarm: z.strictObject({
      /** default `<dataDir>/swarm.json` */
      stateFile: str().default(''),
      // --- static private network (src/swarm/static.ts, docs/swarm.md) ---
      /** A Kubo-format `swarm.key`: the node starts inside that PSK network (no creator). */
      keyFile: str('a file path').default(''),
      /** With `keyFile`: only these peer ids may connect (empty = anyone holding the key). */
      allow: peerIdList.default([]),
      /** Refuse to start without `keyFile` (like Kubo's LIBP2P_FORCE_PNET=1, also honoured). */
      force: bool().default(false)
    }).prefault({}),
    vpn: z.strictObject({
      cidr: str('an IPv4 CIDR inside 100.64.0.0/10').refine(isCgnatSubnet, { error: 'an IPv4 CIDR inside 100.64.0.0/10 (prefix /10 to /30), e.g. 100.64.0.0/10' }).default('100.64.0.0/10'),
      ipv6Prefix: str('an IPv6 ULA prefix').refine(isUlaPrefix, { error: 'an IPv6 unique-local prefix fdXX:... of length /48 to /64, e.g. fd64:646d:736e::/64' }).default('fd64:646d:736e::/64'),
      domain: str('a DNS domain').regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/, { error: 'a lower-case DNS domain such as dmsnet' }).default('dmsnet'),
      mtu: posInt('an integer MTU between 1280 and 65535').min(1280, { error: 'an integer MTU between 1280 and 65535' }).max(65535, { error: 'an integer MTU between 1280 and 65535' }).default(1420),
      interfaceName: str('an interface name').regex(/^[a-zA-Z0-9_.-]{1,15}$/, { error: 'an interface name of 1-15 characters [a-zA-Z0-9_.-]' }).default('dmsnet0'),
      dnsPort: nonNegInt('a port number (0-65535)').max(65535, { error: 'a port number (0-65535)' }).default(53),
      /**
       * Who may invite this node into a VPN (which creates a TUN device and routes here): peer ids,
       * or `*` for anyone. Inside a private swarm its members are always accepted. Empty (default):
       * on the public network nobody can, so a stranger cannot make this node join its VPN.
       */
      acceptInvitesFrom: z.array(str('a peer id or *').refine(v => v === '*' || /^[1-9A-HJ-NP-Za-km-z]{46,60}$/.test(v), { error: 'a peer id (base58, e.g. 12D3KooW...) or * for anyone' })).default([]),
      // --- vpnsec: what a received membership may do to this host (docs/vpn.md, "Trust and policy") ---
      /** Ranges a membership's prefixes must lie in; each inside private space (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7). */
      acceptRanges: z.array(str('a private prefix').refine(isPrivateRange, { error: 'a prefix inside private space: 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10 or fc00::/7' })).min(1).default(['100.64.0.0/10', 'fc00::/7']),
      /** Members (peer ids, or `*`) whose routes (prefixes behind them) are installed here; default none. */
      acceptRoutesFrom: z.array(str('a peer id or *').refine(v => v === '*' || /^[1-9A-HJ-NP-Za-km-z]{46,60}$/.test(v), { error: 'a peer id (base58, e.g. 12D3KooW...) or * for anyone' })).default([]),
      /** Whether an invitation to another VPN may replace the one this node is in; default false. */
      allowNetworkSwitch: bool().default(false),
      /** This node's DNS label in a VPN it starts (`<name>.<domain>`); empty: `p-<last 8 of the peer id>`. */
      name: str('a DNS label').regex(/^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)?$/, { error: 'a lower-case DNS label (a-z, 0-9, -), or empty' }).default(''),
      // --- end vpnsec ---
      // --- inner TCP over the tunnel (src/vpn/tun-device.ts, docs/vpn.md "Inner TCP") ---
      /** TCP congestion control the VPN's routes suggest (`congctl`, not locked); '' = the host's default. */
      congestionControl: str('a TCP congestion control name').regex(/^([a-z0-9_]{1,15})?$/, { error: 'a TCP congestion control name such as cubic (see /proc/sys/net/ipv4/tcp_available_congestion_control), or empty' }).default('cubic'),
      // --- end inner TCP ---
      // --- DNS forwarding of names outside vpn.domain (src/vpn/dns-forward.ts, docs/vpn.md) ---
      dnsForward: z.strictObject({
        enabled: bool().default(true),
        /** Resolvers (`ip` or `ip:port`, `[v6]:port`); empty = the host's /etc/resolv.conf. */
        upstreams: z.array(str('an IP address, optionally with :port').refine(isDnsUpstream, { error: 'an IP address, optionally with a port: 192.0.2.53, 192.0.2.53:5353, [fd00::53]:53' })).max(8).default([]),
        timeoutMs: posInt().max(30_000, { error: 'at most 30000' }).default(2000),
        maxInFlight: posInt().max(65_536, { error: 'at most 65536' }).default(256),
        cacheSize: nonNegInt().max(1_000_000, { error: 'at most 1000000' }).default(1024),
        maxTtlSec: posInt().max(86_400, { error: 'at most 86400' }).default(300)
      }).prefault({})
    }).prefault({}),
    // --- memory: the daemon's idle reclaim (src/daemon/memory-reclaim.ts; docs/network.md "Memory and idle cost") ---
    memory: z.strictObject({
      /** `dmsnet up` only: Node's Buffer pool slab size (`Buffer.poolSize`; node's 8192). A small Buffer that lives on (a peer id's
       * digest) keeps its whole slab; 1024 bounds that to 1 KiB (docs/network.md "Memory and idle cost", stop 28). 0 = no pool. */
      bufferPoolBytes: nonNegInt().max(65_536, { error: 'at most 65536' }).default(1024),
      /**
       * `dmsnet up` started with `--max-opt=2` in `DMSNET_NODE_FLAGS` (opt-in): TurboFan goes on for good once the
       * process used this % of a core over 5 s, its event loop was busy for 15 s, or its VPN loaded (src/daemon/memory-jit.ts); until then an idle daemon
       * never maps TurboFan's ~6 MB of code pages (idle CPU is higher). 0 = on from the start. Without the flag: no effect.
       */
      turbofanCpuPct: nonNegInt().max(100, { error: 'at most 100' }).default(25),
      reclaim: z.strictObject({
        /** A full compacting GC + malloc_trim when `dmsnet up` has been quiet (not the demo's or tests' in-process nodes). */
        enabled: bool().default(true),
        /** How long the event loop must have been quiet (and the VPN without traffic) first. */
        quietMs: posInt().default(15_000),
        /** RSS growth above the last reclaim's result before another (4 MiB: 2 MiB saved ~0.7 MB more but cost ~0.2 % of a core at idle; docs/network.md "Memory and idle cost", session 9). */
        minGrowthBytes: posInt().default(4 * 1024 * 1024),
        /** Never two reclaims closer than this. */
        minIntervalMs: posInt().default(60_000),
        /** While quiet, a plain major collection this often between reclaims, so promoted garbage does not creep RSS up (0: never; docs/network.md "Memory and idle cost"). */
        tidyIntervalMs: nonNegInt().default(60_000),
        /** The tidy also runs malloc_trim(0): lower RSS on average, but a sawtooth every tidy (docs/network.md "Settle after a busy spell"). */
        tidyTrim: bool().default(false),
        /** The tidy is a memory-reducing collection (no trim, file pages or flush): V8's pooled pages go back (-1.3 MB at N=100), but a sawtooth (docs/network.md "A tidy that gives V8's pages back"). */
        tidyReduce: bool().default(false),
        /** After a busy spell (3 busy checks in a row), a reclaim once quiet if the footprint grew this much since the last (0: no such rule; docs/network.md "Settle after a busy spell"). */
        settleGrowthBytes: nonNegInt().default(1024 * 1024),
        /** For this long after a reclaim, while quiet, its baseline follows the footprint up: the trough refilling is not growth (0: the reclaim's result; docs/network.md "A baseline after the refill", stop 37). */
        refillMs: nonNegInt().default(300_000),
        /** Last step of a reclaim: advise the kernel about read-only file pages (node binary): off, cold, pageout, dontneed. */
        filePages: z.enum(['off', 'cold', 'pageout', 'dontneed'], { error: 'one of off, cold, pageout, dontneed' }).default('pageout'),
        /** With filePages=pageout: read-only file mappings (node binary) without read-ahead (MADV_RANDOM), so a page used after a release is read alone (docs/network.md "The node binary's pages and the page cache"). */
        fileReadahead: z.enum(['random', 'kernel'], { error: 'one of random, kernel' }).default('random'),
        /** A reclaim also drops the bytecode (and compiled code) of every function not running, at most once per this many ms (0: never). */
        flushCodeIntervalMs: nonNegInt().default(300_000)
      }).prefault({})
    }).prefault({})
    // --- end memory ---
  })
}

export type RawConfig = z.output<ReturnType<typeof rawConfigSchema>>

function expandHome (p: string): string {
  if (p === '~') return homedir()
  if (p.startsWith('~/')) return join(homedir(), p.slice(2))
  return isAbsolute(p) ? p : resolve(p)
}

/** Resolves `~`, relative paths and the `<dataDir>`-derived defaults; mdns follows the profile. */
function finish (raw: RawConfig): RawConfig & { network: { mdns: { enabled: boolean } } } {
  const dataDir = expandHome(raw.dataDir)
  const orDefault = (p: string, name: string): string => p === '' ? join(dataDir, name) : expandHome(p)
  return {
    ...raw,
    dataDir,
    network: {
      ...raw.network,
      identityFile: orDefault(raw.network.identityFile, 'identity.key'),
      mdns: { ...raw.network.mdns, enabled: raw.network.mdns.enabled ?? raw.profile === 'lan' }
    },
    control: { ...raw.control, socket: orDefault(raw.control.socket, 'control.sock') },
    swarm: { ...raw.swarm, stateFile: orDefault(raw.swarm.stateFile, 'swarm.json'), keyFile: raw.swarm.keyFile === '' ? '' : expandHome(raw.swarm.keyFile) }
  }
}

/** Every default, straight from the schema: the one source features read them from (`dataDir` paths stay empty; `loadConfig` resolves them). */
export const configDefaults: Readonly<RawConfig> = Object.freeze(rawConfigSchema().parse({}))

/** Builds the schema of the whole node configuration: parse with `configSchema().parse` or, better, `loadConfig`. */
export function configSchema () {
  return rawConfigSchema().transform(finish)
}

export type Config = z.output<ReturnType<typeof configSchema>>
export type NetworkConfig = Config['network']
export type ConfigInput = z.input<ReturnType<typeof rawConfigSchema>>
