// One query-log record type for DNS queries, HTTP requests and network connections (CONNECT
// tunnels). Edges push these into a bounded ring and ship them to control in NDJSON batches;
// control stores them for search and analytics. Full detail (domain, client, policy id) lives
// here, never in metric labels.

import { type Static, Type as T } from "@sinclair/typebox";

export const LOG_KINDS = ["dns", "http", "net"] as const;
export type LogKind = (typeof LOG_KINDS)[number];

/** What happened, low-cardinality: also the `action` metric label. */
export const LOG_ACTIONS = [
  "allow",
  "block",
  "override",
  "safesearch",
  "ytrestricted",
  "do_not_inspect",
  "refused",
  "ratelimited",
  "error",
] as const;
export type LogAction = (typeof LOG_ACTIONS)[number];

export const QueryLogRecord = T.Object({
  /** Milliseconds since the Unix epoch, when the query/request arrived. */
  ts: T.Number(),
  kind: T.Union(LOG_KINDS.map((k) => T.Literal(k))),
  /** Per-edge unique id (request id on block pages). */
  id: T.String({ maxLength: 64 }),
  edgeId: T.Optional(T.String({ maxLength: 128 })),
  location: T.Optional(T.String({ maxLength: 128 })),
  client: T.String({ maxLength: 64 }),
  identity: T.Optional(T.String({ maxLength: 320 })),
  /** DNS: the answer section's records other than CNAMEs, `TYPE data, …` (bounded). */
  answer: T.Optional(T.String({ maxLength: 1024 })),
  /** DNS: the CNAME chain's targets in order, space-separated (`b.example. c.example.`). */
  cnames: T.Optional(T.String({ maxLength: 1024 })),
  /** DNS over a device's DoH token: the device's name. */
  device: T.Optional(T.String({ maxLength: 200 })),
  action: T.Union(LOG_ACTIONS.map((a) => T.Literal(a))),
  policyId: T.Optional(T.String({ maxLength: 128 })),
  policyName: T.Optional(T.String({ maxLength: 200 })),
  /** The list that matched, when a policy matched through `in $list`. */
  list: T.Optional(T.String({ maxLength: 128 })),
  /** The list entry that matched: a rule's canonical text, or the listed name. */
  rule: T.Optional(T.String({ maxLength: 512 })),
  /**
   * The name the list entry matched when it is not the question: a name of the answer's CNAME
   * chain (CNAME cloaking).
   */
  matchedName: T.Optional(T.String({ maxLength: 255 })),
  /** Transport: udp, tcp, dot, doh (DNS); http, connect (proxy); internal (the proxy's own lookups). */
  transport: T.String({ maxLength: 16 }),
  durationMs: T.Number(),
  // DNS
  qname: T.Optional(T.String({ maxLength: 255 })),
  qtype: T.Optional(T.String({ maxLength: 16 })),
  rcode: T.Optional(T.String({ maxLength: 16 })),
  cache: T.Optional(
    T.Union([T.Literal("hit"), T.Literal("miss"), T.Literal("stale"), T.Literal("none")]),
  ),
  upstream: T.Optional(T.String({ maxLength: 512 })),
  /** DNSSEC validation state of the answer (absent: not validated). */
  dnssec: T.Optional(T.Union([T.Literal("secure"), T.Literal("insecure"), T.Literal("bogus")])),
  /** The RFC 8914 Extended DNS Error code the answer carried, if any. */
  ede: T.Optional(T.Integer({ minimum: 0, maximum: 65535 })),
  // HTTP / network
  method: T.Optional(T.String({ maxLength: 32 })),
  host: T.Optional(T.String({ maxLength: 255 })),
  /** URL without the query string unless the config says otherwise. */
  url: T.Optional(T.String({ maxLength: 8192 })),
  sni: T.Optional(T.String({ maxLength: 255 })),
  /** TLS inspection: the request was read from a decrypted connection (or the CONNECT was). */
  inspected: T.Optional(T.Boolean()),
  /** Inspected: TLS version agreed with the client ("TLSv1.3"). */
  tlsVersion: T.Optional(T.String({ maxLength: 16 })),
  /** Inspected: ALPN protocol agreed with the client ("http/1.1"), "" when none. */
  alpn: T.Optional(T.String({ maxLength: 32 })),
  /** Inspected: the origin certificate's verdict, "valid" or the verification error's code. */
  originCert: T.Optional(T.String({ maxLength: 64 })),
  status: T.Optional(T.Integer()),
  bytesUp: T.Optional(T.Integer({ minimum: 0 })),
  bytesDown: T.Optional(T.Integer({ minimum: 0 })),
  upstreamAddr: T.Optional(T.String({ maxLength: 64 })),
  /** Low-cardinality cause for errors and refusals (e.g. "upstream_timeout", "private_target"). */
  reason: T.Optional(T.String({ maxLength: 64 })),
});
export type QueryLogRecord = Static<typeof QueryLogRecord>;
