// Building locally-originated answers: the response skeleton echoing the question, and the
// answers policies synthesize (block modes, overrides, rewrites).

import { isIPv4, isIPv6 } from "node:net";
import { u8, u16 } from "../net/bytes.ts";
import type { CompiledPolicy } from "../policy/policy-set.ts";
import type { DnsExchange } from "./exchange.ts";
import { parsedQuery } from "./exchange.ts";
import { Ede, Rcode, RRClass, RRType } from "./wire/constants.ts";
import { edeOption } from "./wire/edns.ts";
import { emptyMessage, type Message, type ResourceRecord } from "./wire/message.ts";
import type { ParsedQuery } from "./wire/query.ts";

export const DEFAULT_SYNTH_TTL = 60;

/**
 * A response to the exchange's query with `rcode` and no records yet: ID, opcode, RD and CD
 * echoed (RFC 1035 §4.1.1, RFC 4035 §3.2.2) — from the raw header when the rest of the query
 * could not be read. RA is decided by finalize.
 */
export function responseSkeleton(ex: DnsExchange, rcode: number): Message {
  const q = ex.query;
  const raw = ex.raw;
  const header = raw.length >= 4;
  const m = emptyMessage(q ? q.id : raw.length >= 2 ? u16(raw, 0) : 0);
  m.qr = true;
  m.opcode = q ? q.opcode : header ? (u8(raw, 2) >>> 3) & 0xf : 0;
  m.rd = q ? q.rd : header && (u8(raw, 2) & 0x01) !== 0;
  m.cd = q ? q.cd : header && (u8(raw, 3) & 0x10) !== 0;
  m.rcode = rcode;
  if (q) m.questions.push({ name: q.qnameRaw, type: q.qtype, class: q.qclass });
  return m;
}

/** The owner of the answer's next record: the last rewrite's target, else the question. */
export function ownerName(ex: DnsExchange, q: ParsedQuery): string {
  const last = ex.prefix.at(-1);
  if (last === undefined) return q.qnameRaw;
  if (typeof last.data !== "string") throw new Error("a rewrite's CNAME has no target name");
  return last.data;
}

function rr(name: string, type: number, ttl: number, data: string): ResourceRecord {
  return { name, type, class: RRClass.IN, ttl, data };
}

/** Answers for the question from a fixed address list (A gets IPv4, AAAA gets IPv6). */
export function addressAnswers(
  ex: DnsExchange,
  ips: readonly string[],
  ttl: number,
): ResourceRecord[] {
  const q = parsedQuery(ex);
  const out: ResourceRecord[] = [];
  const owner = ownerName(ex, q);
  for (const ip of ips) {
    if (q.qtype === RRType.A && isIPv4(ip)) out.push(rr(owner, RRType.A, ttl, ip));
    else if (q.qtype === RRType.AAAA && isIPv6(ip)) out.push(rr(owner, RRType.AAAA, ttl, ip));
  }
  return out;
}

/**
 * The block answer of a policy (answer mode per policy): `null` → 0.0.0.0 / :: (other types
 * get an empty NOERROR), `nxdomain`, `refused`, or `ip` → the block page's address. EDE 15
 * "Blocked" (RFC 8914 §4.16) carries the policy name.
 */
export function blockResponse(ex: DnsExchange, p: CompiledPolicy): Message {
  const mode = p.settings.blockMode ?? "null";
  const ttl = p.settings.ttl ?? DEFAULT_SYNTH_TTL;
  ex.ede.push(edeOption(Ede.BLOCKED, p.name));
  if (mode === "nxdomain") return responseSkeleton(ex, Rcode.NXDOMAIN);
  if (mode === "refused") return responseSkeleton(ex, Rcode.REFUSED);
  const m = responseSkeleton(ex, Rcode.NOERROR);
  let v4 = "0.0.0.0";
  let v6 = "::";
  if (mode === "ip") {
    const page = ex.location?.blockPage ?? ex.rt.snapshot.bundle.blockPage;
    if (page?.ipv4) v4 = page.ipv4;
    if (page?.ipv6) v6 = page.ipv6;
  }
  m.answers = addressAnswers(ex, [v4, v6], ttl);
  return m;
}

/** Search engines' enforcement names (their published safe-search DNS mechanisms). */
const SAFESEARCH: readonly [RegExp, string][] = [
  [/^(www\.)?google\.[a-z]{2,3}(\.[a-z]{2})?$/, "forcesafesearch.google.com"],
  [/^(www\.)?bing\.com$/, "strict.bing.com"],
  [/^(www\.|start\.|html\.)?duckduckgo\.com$/, "safe.duckduckgo.com"],
  [YOUTUBE(), "restrict.youtube.com"],
];
const YT_RESTRICTED: readonly [RegExp, string][] = [[YOUTUBE(), "restrictmoderate.youtube.com"]];

function YOUTUBE(): RegExp {
  return /^(www\.|m\.)?youtube\.com$|^youtubei\.googleapis\.com$|^youtube\.googleapis\.com$|^www\.youtube-nocookie\.com$/;
}

/** The CNAME target a safesearch/ytrestricted policy rewrites `qname` to, if any. */
export function rewriteTarget(
  action: "safesearch" | "ytrestricted",
  qname: string,
): string | undefined {
  for (const [re, target] of action === "safesearch" ? SAFESEARCH : YT_RESTRICTED)
    if (re.test(qname)) return target;
  return undefined;
}

/** Start a CNAME rewrite of the exchange to `target` (resolved further by later stages). */
export function startRewrite(ex: DnsExchange, target: string, ttl: number): void {
  const q = parsedQuery(ex);
  const owner = ownerName(ex, q);
  ex.prefix.push(rr(owner, RRType.CNAME, ttl, target));
  ex.lookupName = target.toLowerCase();
}
