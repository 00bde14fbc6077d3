// Answering a cache hit from the entry's encoded bytes. When the response is exactly the cached
// answer — no rewrite prefix, no EDE but the entry's own, no NSID or Padding, the question as
// looked up — its bytes differ between two queries only in the ID, the header flags, the
// question's letter case and the TTLs (aged since storage). So the first such hit encodes the
// entry's records as stored (age 0) and keeps the bytes and the TTL fields' offsets on the entry
// (DnsCache.keepWire, counted in its bytes); later hits copy them and patch those fields instead
// of encoding records again. The OPT record depends on the query's EDNS state (none, EDNS, DO),
// which the kept bytes are for: another state encodes again and replaces them. Only where the
// packet cache does not keep the answer (a config whose policies read per-client fields, a
// client with settings of its own, DoH and the proxy's lookups): elsewhere a repeat is answered
// from the packet cache, and a second copy would only cost memory.

import { type CachedAnswer, CacheHit } from "../cache/dns-cache.ts";
import type { DnsExchange } from "../exchange.ts";
import { findTtls } from "../packet-cache.ts";
import { memoFor } from "../runtime.ts";
import { encodeMessage, type Message, type ResourceRecord } from "../wire/message.ts";

/**
 * `a` when it is a cache hit the response may be written from its entry's bytes: called by
 * finalize before it adds anything to the exchange's EDE options.
 */
export function wireHit(ex: DnsExchange, a: CachedAnswer): CacheHit | undefined {
  if (!(a instanceof CacheHit) || ex.prefix.length > 0 || ex.ede.length > 0) return undefined;
  const q = ex.query;
  // The question is patched in as the client wrote it: the same octets as the kept one but
  // for case, which a name without escapes looked up as asked guarantees.
  if (q === undefined || q.qname !== ex.lookupName || q.qnameRaw.indexOf("\\") !== -1)
    return undefined;
  const o = q.edns;
  if (o !== undefined && (o.nsid || o.padding)) return undefined;
  const t = ex.client.transport;
  if ((t === "udp" || t === "tcp" || t === "dot") && memoFor(ex.rt, ex.client.ip)) return undefined;
  return a;
}

/**
 * The bytes of `m` (finalized from the hit `h`, nothing added) from the entry's kept encoding,
 * encoding and keeping it first when it has none for this EDNS state; undefined when they exceed
 * the exchange's size limit (write encodes, truncating).
 */
export function writeFromWire(ex: DnsExchange, m: Message, h: CacheHit): Buffer | undefined {
  const e = h.entry;
  const name = m.questions[0]?.name ?? "";
  const edns = m.edns === undefined ? 0 : m.edns.do ? 2 : 1;
  let w = e.wire;
  if (w === undefined || w.edns !== edns) {
    const encoded = encodeMessage({
      ...m,
      answers: e.answers as ResourceRecord[],
      authorities: e.authorities as ResourceRecord[],
      additionals: e.additionals as ResourceRecord[],
    });
    // Kept as a binary string (one char a byte): memory of its own (`encoded` is a slice of a
    // larger buffer) at a fifth of a buffer's fixed cost.
    w = { bytes: encoded.toString("latin1"), ttls: findTtls(encoded), edns };
    ex.rt.shared.cache.keepWire(e, w);
  }
  const src = w.bytes;
  if (src.length > ex.maxSize) return undefined;
  const out = Buffer.allocUnsafe(src.length);
  out.write(src, 0, "latin1");
  out[0] = m.id >>> 8;
  out[1] = m.id & 0xff;
  out[2] =
    (m.qr ? 0x80 : 0) |
    ((m.opcode & 0xf) << 3) |
    (m.aa ? 0x04 : 0) |
    (m.tc ? 0x02 : 0) |
    (m.rd ? 0x01 : 0);
  out[3] = (m.ra ? 0x80 : 0) | (m.ad ? 0x20 : 0) | (m.cd ? 0x10 : 0) | (m.rcode & 0xf);
  // The question's labels from offset 12: each dot of the name is where a length octet is.
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c !== 0x2e) out[13 + i] = c;
  }
  const age = h.age;
  if (age > 0) {
    const ttls = w.ttls;
    for (let i = 0; i < ttls.length; i += 2) {
      const t = (ttls[i + 1] ?? 0) - age;
      out.writeUInt32BE(t > 0 ? t : 0, ttls[i] ?? 0);
    }
  }
  return out;
}
