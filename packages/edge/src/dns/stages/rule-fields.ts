// Filling the DNS scheme's fields for policy evaluation. Only fields some policy reads are
// computed (the set is known at compile time), so a config without response-phase rules never
// walks answers and one without `dns.domains` never splits names.

import { domainsOf } from "@gatehouse/contract/schemes";
import type { ExecutionContext } from "@gatehouse/rules";
import type { CachedAnswer } from "../cache/dns-cache.ts";
import type { DnsExchange } from "../exchange.ts";
import { parsedQuery } from "../exchange.ts";
import { className, RRType, rcodeName, typeName } from "../wire/constants.ts";
import type { MxData } from "../wire/message.ts";
import { beginListQuery } from "./list-match.ts";

/** The question's fields; `name` stands in for the question name (a CNAME chain name). */
export function setQueryFields(
  ctx: ExecutionContext,
  ex: DnsExchange,
  fields: ReadonlySet<string>,
  name?: string,
): void {
  const q = parsedQuery(ex);
  const loc = ex.location;
  const qname = name ?? q.qname;
  // Lists read the query type and client ($dnstype, $client); the stage ends it after matching.
  beginListQuery(ex);
  if (fields.has("dns.fqdn")) ctx.set("dns.fqdn", qname);
  if (fields.has("dns.domains")) ctx.set("dns.domains", domainsOf(qname));
  if (fields.has("dns.query_rtype")) ctx.set("dns.query_rtype", typeName(q.qtype));
  if (fields.has("dns.query_class")) ctx.set("dns.query_class", className(q.qclass));
  if (loc && fields.has("dns.location")) ctx.set("dns.location", loc.id);
  if (loc && fields.has("dns.location_name")) ctx.setText("dns.location_name", loc.name);
  if (fields.has("dns.src_ip")) ctx.set("dns.src_ip", ex.client.ip);
  if (fields.has("dns.src_port")) ctx.set("dns.src_port", ex.client.port);
  if (ex.client.dohToken !== undefined && fields.has("dns.doh_subdomain"))
    ctx.set("dns.doh_subdomain", ex.client.dohToken);
  if (fields.has("dns.transport")) ctx.set("dns.transport", ex.client.transport);
}

export function setResponseFields(
  ctx: ExecutionContext,
  ex: DnsExchange,
  a: CachedAnswer,
  fields: ReadonlySet<string>,
): void {
  if (fields.has("dns.response.rcode")) ctx.set("dns.response.rcode", rcodeName(a.rcode));
  const wantIps = fields.has("dns.resolved_ips");
  const wantCname = fields.has("dns.response.cname");
  const wantMx = fields.has("dns.response.mx");
  const wantPtr = fields.has("dns.response.ptr");
  const wantTxt = fields.has("dns.response.txt");
  const ips: string[] = [];
  const cnames: string[] = [];
  const mx: string[] = [];
  const ptr: string[] = [];
  const txt: string[] = [];
  for (const p of ex.prefix) cnames.push((p.data as string).toLowerCase());
  for (const rr of a.answers) {
    switch (rr.type) {
      case RRType.A:
      case RRType.AAAA:
        ips.push(rr.data as string);
        break;
      case RRType.CNAME:
        cnames.push((rr.data as string).toLowerCase());
        break;
      case RRType.MX:
        mx.push((rr.data as MxData).exchange.toLowerCase());
        break;
      case RRType.PTR:
        ptr.push((rr.data as string).toLowerCase());
        break;
      case RRType.TXT:
        txt.push((rr.data as Uint8Array[]).map((b) => Buffer.from(b).toString("latin1")).join(""));
        break;
    }
  }
  if (wantIps) ctx.set("dns.resolved_ips", ips);
  if (wantCname) ctx.set("dns.response.cname", cnames);
  if (wantMx) ctx.set("dns.response.mx", mx);
  if (wantPtr) ctx.set("dns.response.ptr", ptr);
  if (wantTxt) ctx.set("dns.response.txt", txt);
}
