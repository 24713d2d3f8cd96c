/**
 * Whom this node takes a VPN invitation from (docs/vpn.md, "Trust and policy"): joining a VPN
 * creates a device and routes on this host, so only a listed authority (or `*`), or a member of
 * the private swarm we are in.
 */

/** The invitation rule: a listed peer (or `*`), or a member of the private swarm we are in. */
export function acceptsInvite (acceptFrom: readonly string[], swarmMembers: ReadonlySet<string> | undefined, authority: string): boolean {
  if (acceptFrom.includes('*') || acceptFrom.includes(authority)) return true
  return swarmMembers?.has(authority) === true
}
