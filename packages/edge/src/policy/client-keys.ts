// A client address as the bundle names it (canonical: IPv6 compressed, IPv4-mapped written as
// IPv4) and the forms the edge's servers report it in (a dual-stack socket reports an IPv4
// client as `::ffff:a.b.c.d`): per-client maps hold every form, so the lookup per query is one
// Map.get on the address string the server already has.

/** The keys a per-client map holds for `client`. */
export function clientKeys(client: string): string[] {
  const lower = client.toLowerCase();
  return lower.includes(":") ? [lower] : [lower, `::ffff:${lower}`];
}
