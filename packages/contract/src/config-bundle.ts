// The config bundle: everything an edge enforces, as control publishes it and as
// `gatehouse edge --config FILE.yaml` reads it. Immutable once published; `version` grows
// monotonically and `hash` covers the content. Expressions travel as source text: edges compile
// them (compiled code is never shipped). JSON Schema via TypeBox, so the same definition
// validates the edge's file, control's API bodies and the dashboard's forms.

import { type Static, Type as T, type TSchema } from "@sinclair/typebox";
import {
  BUNDLE_SCHEMA_VERSION,
  LIST_ITEM_MAX_LENGTH,
  LIST_MAX_ITEMS,
  LIST_TYPES,
} from "./bundle-basics.ts";
import { DOMAIN_LIST_FORMATS } from "./domain-rules.ts";

export {
  BUNDLE_SCHEMA_VERSION,
  LIST_ITEM_MAX_LENGTH,
  LIST_MAX_ITEMS,
  LIST_TYPES,
  type ListKind,
  POLICY_ACTIONS,
} from "./bundle-basics.ts";

const Id = T.String({ minLength: 1, maxLength: 128, pattern: "^[A-Za-z0-9_.:-]+$" });
const Name = T.String({ minLength: 1, maxLength: 200 });
/** `$name` in expressions: Decision 3 of the rules spec. */
export const LIST_NAME_PATTERN = "^[a-z0-9_-]([a-z0-9_.-]*[a-z0-9_-])?$";
const ListName = T.String({ minLength: 1, maxLength: 128, pattern: LIST_NAME_PATTERN });
const Cidr = T.String({ minLength: 2, maxLength: 64, description: "an IP address or CIDR" });
const HostName = T.String({ minLength: 1, maxLength: 253 });
const Ttl = T.Integer({ minimum: 0, maximum: 604800 });

/** Where an upstream resolver lives: `udp://1.1.1.1:53`, `tcp://…`, `tls://host:853`, `https://host/dns-query`. */
export const Upstream = T.Object({
  address: T.String({ minLength: 1, maxLength: 512 }),
  /** TLS server name for DoT/DoH (sent as SNI and verified) when the address is an IP or differs. */
  serverName: T.Optional(HostName),
  /**
   * DoT/DoH: PEM certificate(s) of the CA(s) that sign this upstream's certificate, trusted
   * instead of the system roots (a private resolver). Verification is never switched off.
   */
  ca: T.Optional(T.String({ minLength: 1, maxLength: 200_000 })),
  /** `ca` from a PEM file (edge-local configs only, relative to the config file; control sends `ca`). */
  caFile: T.Optional(T.String({ minLength: 1, maxLength: 4096 })),
  timeoutMs: T.Optional(T.Integer({ minimum: 50, maximum: 30000 })),
});
export type Upstream = Static<typeof Upstream>;

export const ResolverSettings = T.Object({
  upstreams: T.Array(Upstream, { maxItems: 32 }),
  strategy: T.Optional(
    T.Union([T.Literal("failover"), T.Literal("fastest"), T.Literal("parallel")]),
  ),
  /** A domain suffix sent to its own upstreams (conditional forwarding). */
  conditionalForwarding: T.Optional(
    T.Array(
      T.Object({ suffix: HostName, upstreams: T.Array(Upstream, { minItems: 1, maxItems: 8 }) }),
      {
        maxItems: 1000,
      },
    ),
  ),
  cache: T.Optional(
    T.Object({
      /**
       * Bytes the DNS caches may hold, the answer cache and the packet cache of encoded answers
       * half each (counted from what each entry holds: key, records, encoded answer, metadata).
       * Default 33554432 (32 MiB); 0 disables caching.
       */
      maxBytes: T.Optional(T.Integer({ minimum: 0, maximum: 68_719_476_736 })),
      /** Entry bound on top of `maxBytes`; default 100000. */
      maxEntries: T.Optional(T.Integer({ minimum: 0, maximum: 10_000_000 })),
      minTtl: T.Optional(Ttl),
      maxTtl: T.Optional(Ttl),
      /** Upper bound on negative caching (RFC 2308), seconds. */
      maxNegativeTtl: T.Optional(Ttl),
      /** RFC 8767: answer from expired entries when upstreams fail. */
      serveStale: T.Optional(T.Boolean()),
      staleTtl: T.Optional(Ttl),
      prefetch: T.Optional(T.Boolean()),
    }),
  ),
  /**
   * Per-source token bucket. Absent: the default (50 queries a second, bursts of 500, refuse);
   * `false`: no limit.
   */
  rateLimit: T.Optional(
    T.Union([
      T.Literal(false),
      T.Object({
        queriesPerSecond: T.Integer({ minimum: 1, maximum: 10_000_000 }),
        burst: T.Optional(T.Integer({ minimum: 1, maximum: 10_000_000 })),
        action: T.Optional(T.Union([T.Literal("refuse"), T.Literal("drop")])),
      }),
    ]),
  ),
  /** Randomise query-name case toward upstreams (draft-vixie-dnsext-dns0x20). */
  use0x20: T.Optional(T.Boolean()),
  /** DNSSEC validation (docs/dns.md). */
  dnssec: T.Optional(
    T.Object({
      /** Validate answers (default true): secure ones get AD, bogus ones become SERVFAIL. */
      validate: T.Optional(T.Boolean()),
      /**
       * DS or DNSKEY records in zone-file presentation, one per line (`;` comments), replacing
       * the built-in root anchors (IANA KSK-2017 and KSK-2024) when given.
       */
      trustAnchors: T.Optional(T.String({ maxLength: 100_000 })),
      /** Domains (and everything below) not validated (RFC 7646 negative trust anchors). */
      negativeTrustAnchors: T.Optional(T.Array(HostName, { maxItems: 10_000 })),
    }),
  ),
});
export type ResolverSettings = Static<typeof ResolverSettings>;

export const BlockPageSettings = T.Object({
  title: T.Optional(T.String({ maxLength: 200 })),
  message: T.Optional(T.String({ maxLength: 2000 })),
  /** CSS colour for the page's header band. */
  color: T.Optional(T.String({ maxLength: 32, pattern: "^#?[A-Za-z0-9]+$" })),
  logoUrl: T.Optional(T.String({ maxLength: 2048 })),
  /** DNS block answers may point here instead of 0.0.0.0/:: (answer mode "ip"). */
  ipv4: T.Optional(T.String({ maxLength: 15 })),
  ipv6: T.Optional(T.String({ maxLength: 45 })),
});
export type BlockPageSettings = Static<typeof BlockPageSettings>;

export const Location = T.Object({
  id: Id,
  name: Name,
  /** Source networks whose clients belong here. */
  networks: T.Array(Cidr, { maxItems: 10000 }),
  /** DoH path token: /dns-query/<token>. */
  dohToken: T.Optional(T.String({ minLength: 8, maxLength: 128, pattern: "^[A-Za-z0-9_-]+$" })),
  /** DoT: the first label of the TLS server name, e.g. `<label>.dot.example.net`. */
  dotLabel: T.Optional(T.String({ minLength: 1, maxLength: 63, pattern: "^[a-z0-9-]+$" })),
  /** Proxy clients of this location must authenticate (407 otherwise). */
  requireProxyAuth: T.Optional(T.Boolean()),
  /**
   * HTTPS through the proxy from this location is decrypted with a certificate the edge mints
   * (its intermediate CA under the organisation's root) so HTTP policies see the request;
   * off when absent. Clients must trust the root (docs/tls-inspection.md).
   */
  tlsInspection: T.Optional(T.Boolean()),
  blockPage: T.Optional(BlockPageSettings),
  /** `validate: false` turns DNSSEC validation off for this location's clients. */
  dnssec: T.Optional(T.Object({ validate: T.Optional(T.Boolean()) })),
});
export type Location = Static<typeof Location>;

export const List = T.Object({
  id: Id,
  /** The name rules use: `$name`. */
  name: ListName,
  type: T.Union(LIST_TYPES.map((t) => T.Literal(t))),
  description: T.Optional(T.String({ maxLength: 2000 })),
  /** Inline items (domains, IPs/CIDRs, strings; ints as strings or numbers). */
  items: T.Optional(
    T.Array(T.Union([T.String({ maxLength: LIST_ITEM_MAX_LENGTH }), T.Integer()]), {
      maxItems: LIST_MAX_ITEMS,
    }),
  ),
  /**
   * Items from a file (edge-local configs only; control inlines items). Domain formats
   * (domain-rules.ts): hosts, plain, adblock (AdGuard Home's DNS syntax; `@@` exceptions apply
   * to the list and are also `<name>.allow`), dnsmasq, regex (Pi-hole), auto (per line).
   */
  file: T.Optional(T.String({ maxLength: 4096 })),
  format: T.Optional(T.Union(DOMAIN_LIST_FORMATS.map((f) => T.Literal(f)))),
});
export type List = Static<typeof List>;

/** DNS block answer modes. */
export const BLOCK_MODES = ["null", "nxdomain", "refused", "ip"] as const;

/** Actions for an origin certificate that does not verify on an inspected connection. */
export const UNTRUSTED_ORIGIN_CERT_ACTIONS = ["block", "pass_through", "inspect"] as const;
export type UntrustedOriginCertAction = (typeof UNTRUSTED_ORIGIN_CERT_ACTIONS)[number];
export const UntrustedOriginCert = T.Union(UNTRUSTED_ORIGIN_CERT_ACTIONS.map((a) => T.Literal(a)));

export const PolicySettings = T.Object({
  /** DNS block: `null` answers 0.0.0.0 / :: (default), or NXDOMAIN, REFUSED, or the block-page IP. */
  blockMode: T.Optional(T.Union(BLOCK_MODES.map((m) => T.Literal(m)))),
  /** TTL of synthesized answers (block, override), seconds; default 60. */
  ttl: T.Optional(Ttl),
  /** DNS override: answer with these addresses … */
  overrideIps: T.Optional(T.Array(T.String({ maxLength: 45 }), { maxItems: 32 })),
  /** … or with a CNAME to this host (resolved further by the edge). */
  overrideHost: T.Optional(HostName),
  /** Text shown on the block page for this policy. */
  blockReason: T.Optional(T.String({ maxLength: 2000 })),
  /**
   * DNS block policies: also block an answer when a name of its CNAME chain matches (CNAME
   * cloaking: `trk.shop.example CNAME trk.adnet.test` caught by `adnet.test`). Default true.
   */
  cnameCloaking: T.Optional(T.Boolean()),
  /**
   * Proxy `allow` policies (`net`, `http`) only: the internal addresses (IPs or CIDRs, e.g.
   * `10.20.0.0/16`) this policy lets the proxy dial. The guard against loopback, private,
   * link-local and other internal destinations is lifted only for an address inside one of
   * these, and only when this policy decided the request; nothing else (not the fields an
   * expression reads) lifts it. The proxy's own listener is refused whatever this says.
   */
  allowPrivateDestinations: T.Optional(
    T.Array(T.String({ minLength: 2, maxLength: 64 }), { maxItems: 256 }),
  ),
  /**
   * HTTP `allow` policies only: what an inspected request this policy decides does with an
   * origin certificate that does not verify, instead of the organisation's
   * `proxy.untrustedOriginCert`. `pass_through` applies when the policy matches on what is
   * known before decryption (host, identity, location), like `do_not_inspect`.
   */
  untrustedOriginCert: T.Optional(UntrustedOriginCert),
});
export type PolicySettings = Static<typeof PolicySettings>;

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;
export type Day = (typeof DAYS)[number];

export const Schedule = T.Object({
  /** IANA time zone the windows are written in. */
  timeZone: T.String({ minLength: 1, maxLength: 64 }),
  /** The policy is active inside any window. `end` may be "24:00". */
  windows: T.Array(
    T.Object({
      days: T.Array(T.Union(DAYS.map((d) => T.Literal(d))), { minItems: 1, maxItems: 7 }),
      start: T.String({ pattern: "^([01][0-9]|2[0-3]):[0-5][0-9]$" }),
      end: T.String({ pattern: "^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$" }),
    }),
    { minItems: 1, maxItems: 64 },
  ),
});
export type Schedule = Static<typeof Schedule>;

export const Policy = T.Object({
  id: Id,
  name: Name,
  description: T.Optional(T.String({ maxLength: 2000 })),
  type: T.Union([T.Literal("dns"), T.Literal("http"), T.Literal("net")]),
  enabled: T.Boolean(),
  /** Lower runs first; first match wins (spec §5.7). Unique per type. */
  precedence: T.Integer({ minimum: 0, maximum: 2_000_000_000 }),
  /** Rules-language expression over the type's scheme. */
  expression: T.String({ minLength: 1, maxLength: 4096 }),
  action: T.Union(
    ["allow", "block", "override", "safesearch", "ytrestricted", "do_not_inspect"].map((a) =>
      T.Literal(a),
    ),
  ),
  settings: T.Optional(PolicySettings),
  schedule: T.Optional(Schedule),
});
export type Policy = Static<typeof Policy>;

/** Credentials are stored as `scrypt$N$r$p$<salt b64>$<hash b64>` (see secrets.ts). */
const CredentialHash = T.String({ minLength: 10, maxLength: 512, pattern: "^scrypt\\$" });

export const Identities = T.Object({
  users: T.Array(
    T.Object({
      id: Id,
      email: T.String({ minLength: 3, maxLength: 320 }),
      name: T.Optional(Name),
      groups: T.Optional(T.Array(T.String({ maxLength: 200 }), { maxItems: 1000 })),
      /** Proxy-Authorization: Basic user = email, password verified against this hash. */
      credentialHash: T.Optional(CredentialHash),
    }),
    { maxItems: 1_000_000 },
  ),
  devices: T.Array(
    T.Object({
      id: Id,
      name: Name,
      /** Basic user = device name. */
      credentialHash: CredentialHash,
      /** The user this device belongs to, for identity fields. */
      userId: T.Optional(Id),
      /** With `dohTokenSha256`: the location its DoH queries belong to. */
      locationId: T.Optional(Id),
      /**
       * SHA-256 (base64url) of the device's DoH URL token (`/dns-query/<token>`): the edge hashes
       * the token a query comes with and finds the device, never holding the token itself.
       */
      dohTokenSha256: T.Optional(T.String({ pattern: "^[A-Za-z0-9_-]{43}$" })),
    }),
    { maxItems: 1_000_000 },
  ),
});
export type Identities = Static<typeof Identities>;

/** One PEM certificate or a chain of them; 64 KiB at most. */
export const PemCertificate = T.String({
  minLength: 50,
  maxLength: 65536,
  pattern: "-----BEGIN CERTIFICATE-----",
});

/**
 * What an edge needs for TLS inspection, present in a bundle only when a location inspects:
 * the organisation's root CA certificate (edges ask control to sign their intermediate under
 * it; a different root means a new intermediate) and the serial numbers of intermediates
 * control revoked (decommissioned edges), which no edge serves a chain through.
 */
export const TlsInspectionSettings = T.Object({
  rootCa: PemCertificate,
  revokedIntermediates: T.Array(T.String({ pattern: "^[0-9a-f]{1,64}$" }), { maxItems: 100000 }),
});
export type TlsInspectionSettings = Static<typeof TlsInspectionSettings>;

export const ProxySettings = T.Object({
  /** Ports CONNECT may reach; default [443]. */
  connectPorts: T.Optional(T.Array(T.Integer({ minimum: 1, maximum: 65535 }), { maxItems: 100 })),
  /** Names the PAC file sends DIRECT. */
  bypassDomains: T.Optional(T.Array(HostName, { maxItems: 10000 })),
  /** Log the query string of URLs (off by default: it may carry secrets). */
  logQueryStrings: T.Optional(T.Boolean()),
  /**
   * Extra CAs (PEM text) the edge trusts, besides the system store, when it verifies an
   * origin's certificate on an inspected connection (private origins).
   */
  originCas: T.Optional(T.Array(PemCertificate, { maxItems: 32 })),
  /**
   * What an inspected connection does with an origin whose certificate does not verify
   * (expired, self-signed, untrusted chain, wrong name): `block` (default) answers 502 with a
   * block page that says why; `pass_through` tunnels the connection untouched, uninspected (the
   * edge checks the origin's certificate before the client's handshake); `inspect` inspects it
   * anyway and logs the verdict. An HTTP `allow` policy's `untrustedOriginCert` overrides it.
   */
  untrustedOriginCert: T.Optional(UntrustedOriginCert),
});
export type ProxySettings = Static<typeof ProxySettings>;

/**
 * Blocking paused (the dashboard's "Pause blocking"): while a pause applies, a DNS policy whose
 * action is `block` does not block — the query is answered as allowed and logged with reason
 * `blocking_paused`. The end time travels in the bundle, so a pause ends on time on an edge
 * that can no longer reach control.
 */
/** A client's IP address (v4 or v6, no prefix). */
const ClientAddress = T.String({ minLength: 2, maxLength: 64, pattern: "^[0-9A-Fa-f.:]+$" });

export const BlockingPause = T.Object({
  /** Milliseconds since the Unix epoch when blocking resumes; absent: until resumed. */
  until: T.Optional(T.Integer({ minimum: 0 })),
  /** The location whose clients it applies to; absent: every client (or `client`). */
  locationId: T.Optional(Id),
  /**
   * One client, by its IP address (canonical form: IPv6 compressed, IPv4-mapped written as
   * IPv4), as the query log records it; never with `locationId`.
   */
  client: T.Optional(ClientAddress),
});
export type BlockingPause = Static<typeof BlockingPause>;

/**
 * A client's own settings (the dashboard's per-client settings; AdGuard Home's "use global
 * settings" unless set). The client is one IP address, as in `BlockingPause.client`. Only the
 * DNS pipeline reads them: `blocking: false` answers what a DNS block policy would block (the
 * log says `client_blocking_off`); `safeSearch` rewrites search engines to their safe-search
 * names when no policy decided otherwise (reason `client_safe_search`); `skipPolicies` are
 * DNS policies this client is exempt from (the next matching policy decides).
 */
export const ClientSettings = T.Object({
  client: ClientAddress,
  /** false: DNS block policies do not block this client. Absent: true. */
  blocking: T.Optional(T.Boolean()),
  safeSearch: T.Optional(T.Boolean()),
  skipPolicies: T.Optional(T.Array(Id, { maxItems: 1000 })),
});
export type ClientSettings = Static<typeof ClientSettings>;

/**
 * A local zone: names the edge answers itself, authoritatively (AA; NXDOMAIN and NODATA with the
 * zone's SOA), before forwarding. `zone` is RFC 1035 master-file text relative to `name`
 * (zone-file.ts: A, AAAA, CNAME, MX, TXT, SRV, PTR, CAA, NS, SOA; `*` wildcards); without an
 * SOA one is made up. `locations` limits it to those locations' clients (absent: everyone).
 */
export const LocalZone = T.Object({
  id: Id,
  /** The zone's apex, e.g. `home.arpa` or `lan.example`. */
  name: HostName,
  zone: T.String({ maxLength: 8_000_000 }),
  locations: T.Optional(T.Array(Id, { maxItems: 10000 })),
  /** AXFR over TCP to these addresses/CIDRs (secondaries); absent or empty: refused. */
  transferTo: T.Optional(T.Array(T.String({ minLength: 2, maxLength: 64 }), { maxItems: 256 })),
});
export type LocalZone = Static<typeof LocalZone>;

export const ConfigBundle = T.Object({
  schemaVersion: T.Literal(BUNDLE_SCHEMA_VERSION),
  /** Monotonically increasing per account. */
  version: T.Integer({ minimum: 0 }),
  /**
   * sha256 of the canonical JSON of every other property, hex (bundleHash()). Control sends and
   * stores a bundle as canonicalJson(bundle), this member among the others, so its body is the
   * hashed bytes plus this one member: an edge checks the hash over the bytes as they stream in
   * (edge sync/bundle-stream.ts). A body in any other JSON form is still accepted, checked
   * over a re-serialisation of what it parses to.
   */
  hash: T.Optional(T.String({ pattern: "^[0-9a-f]{64}$" })),
  createdAt: T.Optional(T.String({ maxLength: 64 })),
  accountId: T.Optional(Id),
  /** Answer clients outside every location (an open resolver/proxy if exposed): default false. */
  allowUnknownClients: T.Optional(T.Boolean()),
  resolver: ResolverSettings,
  locations: T.Array(Location, { maxItems: 10000 }),
  lists: T.Array(List, { maxItems: 10000 }),
  policies: T.Array(Policy, { maxItems: 100000 }),
  identities: T.Optional(Identities),
  proxy: T.Optional(ProxySettings),
  blockPage: T.Optional(BlockPageSettings),
  pauses: T.Optional(T.Array(BlockingPause, { maxItems: 10000 })),
  /** Per-client settings (one entry per client address). */
  clients: T.Optional(T.Array(ClientSettings, { maxItems: 10000 })),
  /** "Local DNS records": zones the edge answers authoritatively. */
  localZones: T.Optional(T.Array(LocalZone, { maxItems: 1000 })),
  tls: T.Optional(TlsInspectionSettings),
});
export type ConfigBundle = Static<typeof ConfigBundle>;

const Millis = (minimum: number) => T.Integer({ minimum, maximum: 86_400_000 });

/**
 * The edge's HTTP proxy limits (`edge.proxy.limits`). Bounds keep a typo from disabling a
 * defence (a 0 ms head timeout, a 0-byte head); `requestTimeoutMs: 0` means no limit on the
 * whole request, and the edge also checks `headersTimeoutMs` ≤ `requestTimeoutMs`.
 */
export const ProxyLimitSettings = T.Object(
  {
    /** Request line + header section, bytes; larger → 431. Default 16384. */
    maxHeaderBytes: T.Optional(T.Integer({ minimum: 1024, maximum: 1_048_576 })),
    /** Header field lines per request; more → 431. Default 100. */
    maxHeaderCount: T.Optional(T.Integer({ minimum: 8, maximum: 10_000 })),
    /** Request-target length; longer → 414. Default 8192. */
    maxUrlLength: T.Optional(T.Integer({ minimum: 256, maximum: 1_048_576 })),
    /** Client connections open at once per listener; more are refused. Default 10000. */
    maxConnections: T.Optional(T.Integer({ minimum: 1, maximum: 1_000_000 })),
    /**
     * Client connections open at once per listener from one source (IPv4 address, IPv6 /64);
     * more from that source are refused while others are still served. Default 1000.
     */
    maxConnectionsPerSource: T.Optional(T.Integer({ minimum: 1, maximum: 1_000_000 })),
    /**
     * Once the proxy has closed its side of a client connection (after `connection: close`, a
     * refusal, an idle timeout), the client's time to close its own before it is cut. Default 5000.
     */
    closeGraceMs: T.Optional(Millis(100)),
    /** The request head must arrive within this (slow-loris cut-off, 408). Default 10000. */
    headersTimeoutMs: T.Optional(Millis(100)),
    /** The whole request from the client; 0 = unlimited. Default 300000. */
    requestTimeoutMs: T.Optional(T.Union([T.Literal(0), Millis(100)])),
    /**
     * Idle keep-alive client connections close after this; a client that takes no byte of a
     * response queued for it this long is cut. Default 60000.
     */
    idleTimeoutMs: T.Optional(Millis(100)),
    /** TCP connect to an origin or CONNECT destination. Default 5000. */
    connectTimeoutMs: T.Optional(Millis(100)),
    /** From the request's last byte sent to the origin's response head. Default 30000. */
    upstreamResponseTimeoutMs: T.Optional(Millis(100)),
    /**
     * No progress on an upload to an origin (408 when the client stopped sending, 504 when the
     * origin stopped reading), silence on an origin's response body, a tunnel or an upgraded
     * connection. Default 120000.
     */
    upstreamIdleTimeoutMs: T.Optional(Millis(100)),
    /** Time a CONNECT client gets to send its TLS ClientHello. Default 10000. */
    clientHelloTimeoutMs: T.Optional(Millis(100)),
    /** TLS inspection: time a client gets to finish its handshake with us. Default 10000. */
    tlsHandshakeTimeoutMs: T.Optional(Millis(100)),
    /**
     * TLS inspection: handshakes in progress at once (each costs a signature, and a mint for a
     * new host); a CONNECT over the bound is closed and counted. Default 512.
     */
    maxConcurrentTlsHandshakes: T.Optional(T.Integer({ minimum: 1, maximum: 100_000 })),
    /** Pooled keep-alive connections per origin address. Default 64. */
    upstreamConnectionsPerOrigin: T.Optional(T.Integer({ minimum: 1, maximum: 10_000 })),
    /**
     * Of one origin's connections, how many one client (IPv4 address, IPv6 /64) may hold at
     * once; its further requests wait, and a freed connection goes to the waiting client holding
     * the fewest. Default 16.
     */
    upstreamConnectionsPerClient: T.Optional(T.Integer({ minimum: 1, maximum: 10_000 })),
    /**
     * Proxy credentials not verified yet (each costs a scrypt run) per client address (IPv6:
     * per /64) and window; past it the client gets 429 until the window ends. Default 20.
     */
    authFailureLimit: T.Optional(T.Integer({ minimum: 1, maximum: 1_000_000 })),
    /** The window of `authFailureLimit`. Default 60000. */
    authFailureWindowMs: T.Optional(Millis(1000)),
  },
  { additionalProperties: false },
);
export type ProxyLimitSettings = Static<typeof ProxyLimitSettings>;

/**
 * The edge's DNS connection limits (`edge.dns.limits`) for its TCP, DoT and DoH listeners, each
 * per listener and per worker process; meanings and defaults in docs/configuration.md.
 */
export const DnsConnectionLimitSettings = T.Object(
  {
    /** No traffic on a connection for this long: the edge ends it (RFC 7766 §6.2.3). Default 10000. */
    idleTimeoutMs: T.Optional(Millis(100)),
    /** After the edge ends a connection, the client has this long to close it before it is destroyed. Default 2000. */
    closeGraceMs: T.Optional(Millis(100)),
    /** Client connections open at once per listener; more are refused. Default 1000. */
    maxConnections: T.Optional(T.Integer({ minimum: 1, maximum: 1_000_000 })),
    /** Client connections open at once per source (IPv4 address, IPv6 /64) per listener. Default 100. */
    maxConnectionsPerSource: T.Optional(T.Integer({ minimum: 1, maximum: 1_000_000 })),
    /** TCP/DoT: queries being resolved at once per connection; at the limit reading pauses. Default 32. */
    maxInFlightPerConnection: T.Optional(T.Integer({ minimum: 1, maximum: 10_000 })),
    /** DoH: concurrent HTTP/2 streams per connection (SETTINGS_MAX_CONCURRENT_STREAMS). Default 100. */
    dohMaxStreams: T.Optional(T.Integer({ minimum: 1, maximum: 10_000 })),
    /** TCP/DoT: answer bytes queued toward one client at which the edge stops reading it. Default 65536. */
    maxQueuedBytes: T.Optional(T.Integer({ minimum: 16_384, maximum: 16_777_216 })),
    /** A connection whose answers do not drain within this is closed. Default 10000. */
    drainTimeoutMs: T.Optional(Millis(100)),
    /** TCP/DoT: a message must arrive whole within this of its first byte, or the connection is closed. Default 5000. */
    messageTimeoutMs: T.Optional(Millis(100)),
  },
  { additionalProperties: false },
);
export type DnsConnectionLimitSettings = Static<typeof DnsConnectionLimitSettings>;

/** Edge-local settings that control never sends: where to listen, certificates, limits. */
/** A DNS name devices are given for an edge (its DoH URL's host, its DoT name). */
export const PublicName = T.String({
  minLength: 1,
  maxLength: 253,
  pattern: "^[A-Za-z0-9_]([A-Za-z0-9_.-]{0,251}[A-Za-z0-9])?$",
});

export const EdgeLocalSettings = T.Object({
  /**
   * This edge's id in its query-log records (`edgeId`); default the host name. An edge that
   * follows control is known by its enrolled id instead (control stamps it on every record it
   * ingests).
   */
  name: T.Optional(T.String({ minLength: 1, maxLength: 128 })),
  /**
   * The name devices use for this edge's DoH and DoT (its certificate should cover it): reported
   * to control, whose Connect page shows it before any listener address.
   */
  publicName: T.Optional(PublicName),
  /** Addresses as "host:port"; each listener is off when absent. */
  dns: T.Optional(
    T.Object({
      udp: T.Optional(T.Array(T.String(), { maxItems: 16 })),
      tcp: T.Optional(T.Array(T.String(), { maxItems: 16 })),
      dot: T.Optional(T.Array(T.String(), { maxItems: 16 })),
      doh: T.Optional(T.Array(T.String(), { maxItems: 16 })),
      /** Connection limits and timeouts of the TCP, DoT and DoH listeners. */
      limits: T.Optional(DnsConnectionLimitSettings),
      /**
       * RFC 5001 name server identifier: sent (as these UTF-8 bytes) in the OPT of answers to
       * queries that ask for it with an empty NSID option; off when absent.
       */
      nsid: T.Optional(T.String({ minLength: 1, maxLength: 128 })),
    }),
  ),
  proxy: T.Optional(
    T.Object({
      /** HTTP proxy listen addresses. */
      http: T.Optional(T.Array(T.String(), { maxItems: 16 })),
      /** Resource limits and timeouts; each absent key keeps its default (limits.ts). */
      limits: T.Optional(ProxyLimitSettings),
    }),
  ),
  metrics: T.Optional(T.String()),
  tls: T.Optional(T.Object({ certFile: T.String(), keyFile: T.String() })),
  dataDir: T.Optional(T.String()),
  /** Data-plane workers sharing the listeners (one per core for throughput); default 1. */
  workers: T.Optional(T.Integer({ minimum: 1, maximum: 256 })),
  /**
   * What the workers are: threads of one process sharing one copy of the lists (default), or
   * processes each holding its own copy (a crash ends one worker, not the edge).
   */
  workerMode: T.Optional(T.Union([T.Literal("threads"), T.Literal("processes")])),
  /** What this edge accepts from a bundle; a bundle beyond a limit is refused whole. */
  limits: T.Optional(
    T.Object({
      /** Items across all lists (memory guard for small edges); default unlimited. */
      maxListItems: T.Optional(T.Integer({ minimum: 0 })),
      /** Largest config poll answer read from control, in bytes; default 256 MiB. */
      maxBundleBytes: T.Optional(T.Integer({ minimum: 1024 })),
      /** Heap limit (MiB) of the thread that parses a large bundle; default 1024. */
      bundleParseMemoryMb: T.Optional(T.Integer({ minimum: 16, maximum: 65536 })),
      /**
       * Bytes the query-log ring may hold until records are shipped (or, on an edge without
       * control, kept for inspection); the oldest are dropped past it and counted. Default
       * 8388608 (8 MiB, some 15,000 records).
       */
      queryLogMaxBytes: T.Optional(T.Integer({ minimum: 65_536, maximum: 4_294_967_296 })),
    }),
  ),
});
export type EdgeLocalSettings = Static<typeof EdgeLocalSettings>;

/** What `gatehouse edge --config FILE.yaml` reads: a bundle plus an optional `edge` section. */
export const EdgeConfigFile = T.Composite([
  T.Omit(ConfigBundle, ["schemaVersion", "version", "hash"]),
  T.Object({
    schemaVersion: T.Optional(T.Literal(BUNDLE_SCHEMA_VERSION)),
    version: T.Optional(T.Integer({ minimum: 0 })),
    edge: T.Optional(EdgeLocalSettings),
  }),
]);
export type EdgeConfigFile = Static<typeof EdgeConfigFile>;

export type { TSchema };
