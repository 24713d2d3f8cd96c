/**
 * The systemd unit `dmsnet service install` writes. Hardening keeps the daemon to what the VPN
 * needs: CAP_NET_ADMIN (TUN device, addresses, routes, nft), CAP_NET_RAW (ping),
 * CAP_NET_BIND_SERVICE (the VPN's DNS on port 53); a dynamic user owning only its state directory;
 * a read-only system. Not set, on purpose: MemoryDenyWriteExecute (V8's JIT needs W+X pages),
 * PrivateDevices (hides /dev/net/tun), ProtectKernelTunables (the VPN writes per-device sysctls)
 * and PrivateNetwork (the daemon is the network).
 */
export interface UnitOptions {
  /** Absolute path of the Node.js (>= 22) binary. */
  node: string
  /** Absolute path of the package's bin/dmsnet.js. */
  bin: string
  /** State directory name under /var/lib (the data dir). */
  stateDir: string
  /** Run as this existing user instead of a systemd dynamic user. */
  user?: string
  /** Also allow network namespaces (`vpn attach` of job namespaces): adds CAP_SYS_ADMIN. */
  allowNetns: boolean
}

/** Node or dmsnet installed in a home directory (nvm, a user prefix) must stay readable. */
function underHome (p: string): boolean {
  return p.startsWith('/home/') || p.startsWith('/root/')
}

export function systemdUnit (o: UnitOptions): string {
  const caps = ['CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_NET_BIND_SERVICE', ...(o.allowNetns ? ['CAP_SYS_ADMIN'] : [])].join(' ')
  return `# dmsnet daemon, written by \`dmsnet service install\` (remove with \`dmsnet service uninstall\`).
# Data dir: /var/lib/${o.stateDir}. Login link to the status page: sudo dmsnet --data-dir /var/lib/${o.stateDir} ui
[Unit]
Description=dmsnet node (libp2p host, private swarms, VPN)
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
ExecStart=${o.node} ${o.bin} up
Environment=DMSNET_DATA_DIR=/var/lib/${o.stateDir}
Environment=NODE_ENV=production
Restart=on-failure
RestartSec=5s
TimeoutStopSec=40s
KillSignal=SIGTERM
${o.user != null ? `User=${o.user}` : 'DynamicUser=yes'}
StateDirectory=${o.stateDir}
StateDirectoryMode=0700
UMask=0077

# capabilities: only what the VPN needs
CapabilityBoundingSet=${caps}
AmbientCapabilities=${caps}
NoNewPrivileges=yes
DeviceAllow=/dev/net/tun rw

# filesystem: read-only system, no home directories, private /tmp
ProtectSystem=strict
ProtectHome=${underHome(o.node) || underHome(o.bin) ? 'read-only' : 'yes'}
PrivateTmp=yes
${o.allowNetns ? 'ReadWritePaths=/run/netns\n' : ''}ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
${o.allowNetns ? '' : 'RestrictNamespaces=yes\n'}RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @obsolete @debug @cpu-emulation @mount
${o.allowNetns ? 'SystemCallFilter=@mount setns unshare\n' : ''}
[Install]
WantedBy=multi-user.target
`
}
