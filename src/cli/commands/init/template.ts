/**
 * The commented config file `dmsnet init` writes: the few keys worth changing, with their
 * defaults, so an operator can read what is possible without the docs.
 */
export interface TemplateValues {
  profile: 'server' | 'lan'
  listen: string[]
}

export function configTemplate (v: TemplateValues): string {
  const list = (xs: string[]): string => xs.length === 0 ? ' []' : '\n' + xs.map(x => `    - ${x}`).join('\n')
  return `# dmsnet node configuration (YAML). Precedence: this file < DMSNET_* env variables < flags.
# Every key is optional; unknown keys are errors. Full reference: docs/config.md.

# server: public host (mDNS off). lan: a node on a local network (mDNS discovery on).
profile: ${v.profile}

# dataDir is where this file, the identity key and the control socket live.
# dataDir: ~/.dmsnet

network:
  # Where to accept connections (TCP and WebSocket).
  listen:${list(v.listen)}
  # Addresses to announce instead of the listen addresses (public IP or DNS name).
  # announce: [/dns4/node.example.org/tcp/9000]
  # Peers to connect to at start, each ending in /p2p/<peer id>.
  bootstrap: []
  # mdns:
  #   enabled: true            # default: true for profile lan, false for server
  # dht:
  #   protocolPrefix: /dmsnet  # the DHT speaks /dmsnet/kad/1.0.0
  #   mode: auto               # auto, client or server
  # relay:
  #   client: true             # reach and be reached through circuit relays (behind NAT)
  #   server: false            # act as a relay for others (public hosts only)
  # connectionManager:
  #   maxConnections: 400
  # Only these peers may connect (empty = anyone); these never may.
  # allowPeers: []
  # denyPeers: []

logging:
  level: info                  # fatal, error, warn, info, debug, trace, silent

metrics:
  enabled: false               # Prometheus text on http://127.0.0.1:<port>/metrics
  port: 9464

# control:
#   socket: ~/.dmsnet/control.sock   # default <dataDir>/control.sock (mode 0600)

# A static private network from a shared key file, the Kubo way (docs/swarm.md):
# swarm:
#   keyFile: ~/.dmsnet/swarm.key     # dmsnet swarm keygen writes one; a Kubo swarm.key works too
#   allow: []                        # optional: only these peer ids may connect
#   force: true                      # refuse to start without keyFile (or LIBP2P_FORCE_PNET=1)
`
}
