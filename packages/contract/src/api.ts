// The control API's answers, as JSON Schemas (TypeBox): control's routes declare them as their
// response schemas (so the OpenAPI document describes them and Fastify serializes by them), and
// the dashboard takes its types from them. Request bodies stay beside the routes that read them.
// Also the error model: every failure answers `{ error: { code, message, details? } }` with a
// code of the catalogue (errors.ts) whose status is the HTTP status.

import { type Static, Type as T, type TSchema } from "@sinclair/typebox";
import { List, LocalZone, Location, Policy, PublicName } from "./config-bundle.ts";
import { ERROR_CODES, type ErrorCode } from "./errors.ts";
import { QueryLogRecord } from "./query-log.ts";

const Instant = T.String({ format: "date-time" });
const Nullable = <S extends TSchema>(s: S) => T.Union([s, T.Null()]);

/** A page of a collection: `nextCursor` is null on the last page. */
export const Page = <S extends TSchema>(item: S) =>
  T.Object({ items: T.Array(item), nextCursor: Nullable(T.String()) });
export interface Page<I> {
  items: I[];
  nextCursor: string | null;
}

/** What every stored resource carries besides its own fields (`version` is also its ETag). */
export const Stamps = { version: T.Integer(), createdAt: Instant, updatedAt: Instant };
export const Stamped = T.Object(Stamps);
export type Stamped = Static<typeof Stamped>;

export const PolicyView = T.Composite([Policy, Stamped]);
export type PolicyView = Static<typeof PolicyView>;

/** A line of a list body that could not be used: its 1-based number (item index + 1 for JSON). */
export const RejectedLine = T.Object({
  line: T.Integer({ minimum: 1 }),
  text: T.String(),
  reason: T.String(),
});
export type RejectedLine = Static<typeof RejectedLine>;

/** How a list body went: lines skipped and why, and the first rejected ones. */
export const ImportStatus = T.Object({
  at: Instant,
  /** Lines that do not parse (bad names, unknown modifiers, regexes that do not compile). */
  invalid: T.Integer({ minimum: 0 }),
  /** Well-formed rules a DNS filter cannot apply ($third-party, URL paths, cosmetic rules). */
  unsupported: T.Integer({ minimum: 0 }),
  /** The first few invalid lines (at most 10). */
  rejected: T.Array(RejectedLine, { maxItems: 10 }),
});
export type ImportStatus = Static<typeof ImportStatus>;

export const ListView = T.Composite([
  T.Omit(List, ["items", "file", "format"]),
  T.Object({
    itemCount: T.Integer({ minimum: 0 }),
    /** Domain lists: how the last bulk upload went (absent before one). */
    importStatus: T.Optional(ImportStatus),
    /** Whether the list follows a URL (GET /lists/{id} only; see /lists/{id}/subscription). */
    subscribed: T.Optional(T.Boolean()),
  }),
  Stamped,
]);
export type ListView = Static<typeof ListView>;

/** GET /lists/{id}/policies: the policies whose expressions use the list. */
export const ListUsers = T.Object({
  policies: T.Array(
    T.Object({
      id: T.String(),
      name: T.String(),
      type: T.Union([T.Literal("dns"), T.Literal("http"), T.Literal("net")]),
      enabled: T.Boolean(),
    }),
  ),
});
export type ListUsers = Static<typeof ListUsers>;

export const ListItemsPage = Page(T.Union([T.String(), T.Integer()]));
export type ListItemsPage = Static<typeof ListItemsPage>;

export const BulkItemsResult = T.Object({
  /** Items that were not in the list before (add) / were in it (remove). */
  changed: T.Integer(),
  /** Lines skipped: comments, blanks, hosts boilerplate, and every invalid or unsupported line. */
  skipped: T.Integer(),
  itemCount: T.Integer(),
  /** Domain lists: lines that do not parse (skipped, counted; the first few in `rejected`). */
  invalid: T.Optional(T.Integer()),
  /** Domain lists: rules a DNS filter cannot apply ($third-party, paths), skipped. */
  unsupported: T.Optional(T.Integer()),
  rejected: T.Optional(T.Array(RejectedLine, { maxItems: 10 })),
});
export type BulkItemsResult = Static<typeof BulkItemsResult>;

/** How a subscription fetch went. */
export const SubscriptionRefresh = T.Object({
  status: T.Union([T.Literal("updated"), T.Literal("not-modified"), T.Literal("failed")]),
  itemCount: T.Optional(T.Integer()),
  skipped: T.Optional(T.Integer()),
  invalid: T.Optional(T.Integer()),
  unsupported: T.Optional(T.Integer()),
  /** The first few lines that do not parse, with their line numbers. */
  rejected: T.Optional(T.Array(RejectedLine, { maxItems: 10 })),
  error: T.Optional(T.String()),
  httpStatus: T.Optional(T.Integer()),
});
export type SubscriptionRefresh = Static<typeof SubscriptionRefresh>;

export const SubscriptionView = T.Object({
  listId: T.String(),
  url: T.String(),
  format: T.String(),
  refreshSeconds: T.Integer(),
  maxBytes: T.Integer(),
  etag: Nullable(T.String()),
  nextFetchAt: Nullable(Instant),
  lastFetchAt: Nullable(Instant),
  lastSuccessAt: Nullable(Instant),
  lastError: Nullable(T.String()),
  /** The last fetch's outcome. */
  lastStatus: Nullable(SubscriptionRefresh),
});
export type SubscriptionView = Static<typeof SubscriptionView>;

export const LocalZoneView = T.Composite([LocalZone, Stamped]);
export type LocalZoneView = Static<typeof LocalZoneView>;

export const LocationView = T.Composite([Location, Stamped]);
export type LocationView = Static<typeof LocationView>;

export const UserView = T.Object({
  id: T.String(),
  email: T.String(),
  name: T.Optional(T.String()),
  groups: T.Array(T.String()),
  /** A proxy password is set (POST …/credential); the hash itself is never shown. */
  hasCredential: T.Boolean(),
  ...Stamps,
});
export type UserView = Static<typeof UserView>;
/** The proxy password is in this answer only. */
export const UserWithCredential = T.Composite([UserView, T.Object({ credential: T.String() })]);

export const DeviceView = T.Object({
  id: T.String(),
  name: T.String(),
  userId: Nullable(T.String()),
  /** The location its DoH token's queries belong to. */
  locationId: Nullable(T.String()),
  /** When its DoH token was issued; null: it has none. */
  dohTokenIssuedAt: Nullable(Instant),
  ...Stamps,
});
export type DeviceView = Static<typeof DeviceView>;
/** The device's credential is in this answer only. */
export const DeviceWithCredential = T.Composite([
  DeviceView,
  T.Object({
    credential: T.String(),
    /** Present when the device was created with a DoH token (`dohToken: true`): shown once. */
    dohToken: T.Optional(T.String()),
  }),
]);
export type DeviceWithCredential = Static<typeof DeviceWithCredential>;
/** A device's new DoH token, in this answer only: the DoH URL path is `/dns-query/<dohToken>`. */
export const DeviceWithDohToken = T.Composite([DeviceView, T.Object({ dohToken: T.String() })]);
export type DeviceWithDohToken = Static<typeof DeviceWithDohToken>;

const ROLE_NAMES = ["viewer", "editor", "admin"] as const;
const RoleName = T.Union(ROLE_NAMES.map((r) => T.Literal(r)));

export const Whoami = T.Object({
  tokenId: T.String(),
  accountId: T.String(),
  role: RoleName,
  expiresAt: Nullable(Instant),
});
export type Whoami = Static<typeof Whoami>;

/**
 * Who is signed in (GET /auth/session, POST /auth/login): a dashboard user with a session
 * cookie, or an API token. `csrfToken` goes in X-CSRF-Token on every change made with the
 * cookie; it is null for tokens (a bearer token is not sent by the browser on its own).
 */
export const SessionView = T.Object({
  via: T.Union([T.Literal("password"), T.Literal("token")]),
  username: Nullable(T.String()),
  accountId: T.String(),
  role: RoleName,
  csrfToken: Nullable(T.String()),
  expiresAt: Nullable(Instant),
});
export type SessionView = Static<typeof SessionView>;

/** A name an admin gave a client (by its IP address, as the query log records it). */
export const ClientNameView = T.Object({
  client: T.String(),
  name: T.String(),
  updatedBy: T.String(),
  updatedAt: Instant,
});
export type ClientNameView = Static<typeof ClientNameView>;

/** A client's own settings as the API shows them (defaults when it has none). */
export const ClientSettingsView = T.Object({
  /** false: DNS block policies do not block this client. */
  blocking: T.Boolean(),
  /** Search engines answered with their safe-search names when no policy decided otherwise. */
  safeSearch: T.Boolean(),
  /** DNS policies this client is exempt from. */
  skipPolicies: T.Array(T.String()),
  /** Who changed them last; null: the client has none of its own (global settings). */
  updatedBy: Nullable(T.String()),
  updatedAt: Nullable(Instant),
});
export type ClientSettingsView = Static<typeof ClientSettingsView>;

/** GET /clients/{client}: one client, what decides its queries, and what it asked lately. */
export const ClientView = T.Object({
  client: T.String(),
  name: Nullable(T.String()),
  /** The location whose networks hold the address (most specific network); null: none. */
  location: Nullable(T.Object({ id: T.String(), name: T.String() })),
  settings: ClientSettingsView,
  /** Blocking paused for this client itself (not its location's or everyone's pause). */
  pause: Nullable(T.Object({ until: Nullable(Instant), pausedBy: T.String(), pausedAt: Instant })),
  /** Other pauses in force that cover it: everyone's, its location's. */
  coveredByPauses: T.Array(T.Object({ scope: T.String(), until: Nullable(Instant) })),
  /**
   * Every enabled policy and whether it applies to this client: `always` (reads nothing about
   * the client: every client's queries), `client` (its location/address conditions hold for
   * this client), `identity` (depends on a signed-in identity or device), `never` (its
   * location/address conditions exclude this client), `skipped` (the client's settings).
   */
  policies: T.Array(
    T.Object({
      id: T.String(),
      name: T.String(),
      type: T.String(),
      action: T.String(),
      precedence: T.Integer(),
      applies: T.Union(
        ["always", "client", "identity", "never", "skipped"].map((a) => T.Literal(a)),
      ),
      why: T.String(),
    }),
  ),
  /** From the query log over the last 24 hours; null without a query-log store. */
  activity: Nullable(
    T.Object({
      total: T.Integer(),
      blocked: T.Integer(),
      firstSeen: Nullable(Instant),
      lastSeen: Nullable(Instant),
      /** How the queries were identified: location, identity and device seen, busiest first. */
      seenAs: T.Array(
        T.Object({
          location: Nullable(T.String()),
          identity: Nullable(T.String()),
          device: Nullable(T.String()),
          count: T.Integer(),
        }),
      ),
    }),
  ),
});
export type ClientView = Static<typeof ClientView>;

/** A dashboard user (never the password or its hash). */
export const DashboardUserView = T.Object({
  id: T.String(),
  username: T.String(),
  role: RoleName,
  passwordChangedAt: Instant,
  createdBy: T.String(),
  createdAt: Instant,
});
export type DashboardUserView = Static<typeof DashboardUserView>;
/** A generated password is in this answer only (null when the caller chose it). */
export const DashboardUserCreated = T.Composite([
  DashboardUserView,
  T.Object({ password: Nullable(T.String()) }),
]);
export type DashboardUserCreated = Static<typeof DashboardUserCreated>;

export const AccountView = T.Object({
  id: T.String(),
  name: T.String(),
  system: T.Boolean(),
  createdAt: Instant,
});
export type AccountView = Static<typeof AccountView>;
/** A new account's first admin token is in this answer only. */
export const AccountCreated = T.Object({
  id: T.String(),
  name: T.String(),
  adminToken: T.String(),
});

export const TokenView = T.Object({
  id: T.String(),
  name: T.String(),
  role: RoleName,
  expiresAt: Nullable(Instant),
  revokedAt: Nullable(Instant),
  createdBy: Nullable(T.String()),
  createdAt: Instant,
});
export type TokenView = Static<typeof TokenView>;
/** The token's secret is in this answer only. */
export const TokenCreated = T.Composite([TokenView, T.Object({ token: T.String() })]);

export const EDGE_STATUSES = ["active", "draining", "decommissioned"] as const;
export const EDGE_SERVING = ["serving", "draining", "drained"] as const;
/** "host:port" (IPv6 in brackets) of a listener, as a device on the network reaches it. */
const ListenAddress = T.String({
  minLength: 3,
  maxLength: 64,
  pattern: "^(\\[[0-9A-Fa-f:.]+\\]|[0-9.]+|[A-Za-z0-9.-]+):[0-9]{1,5}$",
});
const ListenAddresses = T.Array(ListenAddress, { maxItems: 32 });

/**
 * What an edge serves, as it reports it in its heartbeat (control keeps the latest): its
 * listeners per protocol — a wildcard bind (0.0.0.0, ::) given as the machine's addresses —, the
 * certificate DoT and DoH present, and the public name devices should use. The Connect page builds
 * a location's addresses from the edges' reports.
 */
export const EdgeEndpoints = T.Object(
  {
    /** The name devices use for DoH and DoT (`gatehouse edge --public-name`, `edge.publicName`). */
    publicName: T.Optional(PublicName),
    dns: T.Object(
      {
        udp: ListenAddresses,
        tcp: ListenAddresses,
        dot: ListenAddresses,
        doh: ListenAddresses,
      },
      { additionalProperties: false },
    ),
    /** The HTTP proxy; it also serves the PAC file at /proxy.pac. */
    proxy: ListenAddresses,
    /** The certificate on the DoT and DoH listeners (absent without either). */
    certificate: T.Optional(
      T.Object(
        {
          /** SHA-256 of the DER, upper-case hex pairs joined by ":". */
          sha256: T.String({ pattern: "^([0-9A-F]{2}:){31}[0-9A-F]{2}$" }),
          subject: T.String({ maxLength: 1000 }),
          /** DNS names and IP addresses it is valid for. */
          names: T.Array(T.String({ maxLength: 253 }), { maxItems: 100 }),
          notAfter: Instant,
          selfSigned: T.Boolean(),
          /** The certificate itself (PEM): a device may be told to trust a self-signed one. */
          pem: T.String({ minLength: 1, maxLength: 16384 }),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type EdgeEndpoints = Static<typeof EdgeEndpoints>;

export const EdgeView = T.Object(
  {
    id: T.String(),
    name: T.String(),
    status: T.Union(EDGE_STATUSES.map((s) => T.Literal(s))),
    softwareVersion: Nullable(T.String()),
    configVersion: Nullable(T.Integer()),
    uptimeSeconds: Nullable(T.Integer()),
    counters: T.Record(T.String(), T.Integer()),
    /** The edge's last report on applying a bundle. */
    configStatus: Nullable(
      T.Object({
        version: T.Integer(),
        ok: T.Boolean(),
        at: T.Optional(Instant),
        error: T.Optional(
          T.Object({
            message: T.String(),
            problems: T.Optional(T.Array(T.Object({ path: T.String(), message: T.String() }))),
          }),
        ),
      }),
    ),
    /** The version the edge is held at (staged rollout); null: it follows the latest. */
    pinnedVersion: Nullable(T.Integer()),
    /** Labels (site, role, …) that rollout stages select edges by. */
    labels: T.Optional(T.Record(T.String(), T.String())),
    /**
     * As the edge reports it: `serving`, `draining` (closing its listeners) or `drained` (listeners
     * closed, open connections finished); null before its first report.
     */
    serving: T.Optional(Nullable(T.Union(EDGE_SERVING.map((s) => T.Literal(s))))),
    /** What it serves, from its last heartbeat that said (null: it never did — an older edge). */
    endpoints: T.Optional(Nullable(EdgeEndpoints)),
    /** Its software is older than control's minimumEdgeVersion: control refuses it. */
    tooOld: T.Optional(T.Boolean()),
    /** The decommissioned edge whose name and labels this one took over. */
    replaces: T.Optional(Nullable(T.String())),
    lastSeenAt: Nullable(Instant),
    /** Three missed heartbeats. */
    stale: T.Boolean(),
    enrolledAt: Nullable(Instant),
  },
  { additionalProperties: true },
);
export type EdgeView = Static<typeof EdgeView>;

/** The join token is in this answer only. */
export const JoinTokenCreated = T.Object({
  id: T.String(),
  joinToken: T.String(),
  expiresAt: Instant,
  /** Enrolments it allows. */
  uses: T.Integer(),
  /** Labels every edge enrolled with it gets. */
  labels: T.Record(T.String(), T.String()),
  /** The decommissioned edge whose name and labels the enrolled edge takes over. */
  replaces: Nullable(T.String()),
});
/** GET /edges/versions: the software versions of the fleet (version skew). */
export const EdgeVersionsView = T.Object({
  /** Control refuses edges older than this; null: none refused. */
  minimumEdgeVersion: Nullable(T.String()),
  /** Newest first; edges that are not decommissioned. */
  versions: T.Array(
    T.Object({
      /** null: the edge has not reported one yet. */
      version: Nullable(T.String()),
      edges: T.Integer(),
      /** Older than minimumEdgeVersion (refused). */
      tooOld: T.Boolean(),
    }),
  ),
});
export type EdgeVersionsView = Static<typeof EdgeVersionsView>;
/** The edge credential is in this answer only. */
export const EdgeEnrolled = T.Object({
  edgeId: T.String(),
  accountId: T.String(),
  credential: T.String(),
});
/** The organisation's root CA (GET /tls/ca): the certificate's facts, never its key. */
export const TlsCaView = T.Object({
  subject: T.String(),
  serialNumber: T.String(),
  notBefore: Instant,
  notAfter: Instant,
  /** SHA-256 of the DER certificate, colon-separated hex (what OS dialogs show). */
  sha256Fingerprint: T.String(),
  /** `generated` by control on first use, or `imported` through PUT /tls/ca. */
  source: T.Union([T.Literal("generated"), T.Literal("imported")]),
  certificate: T.String(),
});
export type TlsCaView = Static<typeof TlsCaView>;
/** An edge's intermediate CA certificate, signed by the organisation's root. */
export const EdgeIntermediateIssued = T.Object({
  certificate: T.String(),
  /** The root the intermediate chains to. */
  rootCa: T.String(),
  serialNumber: T.String(),
  notAfter: Instant,
});
export type EdgeIntermediateIssued = Static<typeof EdgeIntermediateIssued>;
export const HeartbeatAnswer = T.Object(
  {
    status: T.Union(EDGE_STATUSES.map((s) => T.Literal(s))),
    latestVersion: T.Integer(),
    pinnedVersion: Nullable(T.Integer()),
    heartbeatIntervalSeconds: T.Number(),
  },
  { additionalProperties: true },
);
export type HeartbeatAnswer = Static<typeof HeartbeatAnswer>;

export const BundleSummary = T.Object({
  policies: T.Integer(),
  lists: T.Integer(),
  listItems: T.Integer(),
  locations: T.Integer(),
  users: T.Integer(),
  devices: T.Integer(),
});
export type BundleSummary = Static<typeof BundleSummary>;

export const ConfigVersion = T.Object({
  version: T.Integer(),
  hash: T.String(),
  createdAt: Instant,
  createdBy: Nullable(T.String()),
  summary: Nullable(BundleSummary),
});
export type ConfigVersion = Static<typeof ConfigVersion>;

export const PublishResult = T.Object({
  version: T.Integer(),
  hash: T.String(),
  createdAt: Instant,
  /** False when nothing changed since the latest version (no new version then). */
  changed: T.Boolean(),
  summary: BundleSummary,
});
export type PublishResult = Static<typeof PublishResult>;

export const RollbackResult = T.Composite([
  PublishResult,
  /** The version whose content is current again. */
  T.Object({ rolledBackTo: T.Integer() }),
]);
export type RollbackResult = Static<typeof RollbackResult>;

/** A rule error's place in its expression, in UTF-16 code units. */
export const RuleSpan = T.Object({ start: T.Integer(), length: T.Integer() });

const ConfigProblem = T.Object({
  /** JSON pointer into the bundle, e.g. `/policies/3/expression`. */
  path: T.String(),
  message: T.String(),
  /** Set for expression errors: the rules engine's kind, message and span [start, length]. */
  rule: T.Optional(
    T.Object({
      kind: T.String(),
      message: T.String(),
      span: T.Tuple([T.Integer(), T.Integer()]),
    }),
  ),
});
/** An enabled policy that can never match: one evaluated before it always matches first. */
const ConfigWarning = T.Object({
  /** JSON pointer of the shadowed policy, e.g. `/policies/5`. */
  path: T.String(),
  policyId: T.String(),
  /** The policy that always matches first. */
  shadowedBy: T.String(),
  message: T.String(),
});
/** `problems` would make a publish fail (`ok: false`); `warnings` never do. */
export const ConfigCheck = T.Object({
  ok: T.Boolean(),
  problems: T.Array(ConfigProblem),
  warnings: T.Array(ConfigWarning),
});
export type ConfigCheck = Static<typeof ConfigCheck>;

const DiffSection = {
  added: T.Array(T.String()),
  removed: T.Array(T.String()),
  changed: T.Array(T.String()),
};
export const BundleDiff = T.Object({
  from: T.Integer(),
  to: T.Integer(),
  policies: T.Object(DiffSection),
  lists: T.Object({
    ...DiffSection,
    items: T.Array(
      T.Object({ id: T.String(), name: T.String(), added: T.Integer(), removed: T.Integer() }),
    ),
  }),
  locations: T.Object(DiffSection),
  users: T.Object(DiffSection),
  devices: T.Object(DiffSection),
  resolverChanged: T.Boolean(),
  settingsChanged: T.Boolean(),
});
export type BundleDiff = Static<typeof BundleDiff>;

export const ImportResult = T.Object({
  imported: T.Record(T.String(), T.Integer()),
});

export const AuditEntry = T.Object({
  id: T.String(),
  at: Instant,
  actor: T.String(),
  resource: T.String(),
  resourceId: Nullable(T.String()),
  action: T.String(),
  before: T.Unknown(),
  after: T.Unknown(),
});
export type AuditEntry = Static<typeof AuditEntry>;

export const Ok = T.Object({ ok: T.Literal(true) });

// Analytics. Dimension names are strings here: the store's lists of them are control's.
export const TimeseriesResult = T.Object({
  bucket: T.Union([T.Literal("minute"), T.Literal("hour"), T.Literal("day")]),
  by: T.String(),
  points: T.Array(
    T.Object({
      /** Bucket start, ms since the epoch (UTC-aligned). */
      t: T.Number(),
      /** Value of the `by` column; null when the record had none. */
      key: Nullable(T.String()),
      count: T.Integer(),
    }),
  ),
});
export type TimeseriesResult = Static<typeof TimeseriesResult>;

export const TopResult = T.Object({
  dimension: T.String(),
  entries: T.Array(
    T.Object({
      key: T.String(),
      count: T.Integer(),
      /** For `policy`: the policy name seen most recently in the range's records. */
      label: T.Optional(T.String()),
    }),
  ),
});
export type TopResult = Static<typeof TopResult>;

export const SearchResult = T.Object({
  records: T.Array(QueryLogRecord),
  /** Present when more records may follow. */
  nextCursor: T.Optional(T.String()),
});
export type SearchResult = Static<typeof SearchResult>;

const CountEntry = T.Object({ key: T.String(), count: T.Integer() });
const ChangeBreakdown = T.Object({
  count: T.Integer(),
  byDomain: T.Array(CountEntry),
  byClient: T.Array(CountEntry),
  examples: T.Array(
    T.Object({
      kind: T.String(),
      domain: Nullable(T.String()),
      client: T.String(),
      lastSeen: T.Number(),
      count: T.Integer(),
      loggedAction: T.String(),
      loggedPolicyId: Nullable(T.String()),
      simulatedAction: T.String(),
      simulatedPolicyId: Nullable(T.String()),
    }),
  ),
});
export const SimulateResult = T.Object({
  from: T.Number(),
  to: T.Number(),
  kinds: T.Array(T.String()),
  replayed: T.Integer(),
  combinations: T.Integer(),
  skipped: T.Integer(),
  unchanged: T.Integer(),
  newlyBlocked: ChangeBreakdown,
  newlyAllowed: ChangeBreakdown,
  otherChanges: T.Array(T.Object({ from: T.String(), to: T.String(), count: T.Integer() })),
  warnings: T.Array(T.String()),
});
export type SimulateResult = Static<typeof SimulateResult>;

export const IngestResult = T.Object({
  batchId: T.String(),
  /** Records written by this call (0 for a duplicate batch). */
  accepted: T.Integer(),
  /** True when the batch id had been ingested before: nothing was written. */
  duplicate: T.Boolean(),
});

// The error model.

/** The catalogue's codes answered with `status` ("5xx": with any 5xx status). */
function errorCodesOf(status: number | "5xx"): ErrorCode[] {
  return (Object.keys(ERROR_CODES) as ErrorCode[]).filter((c) =>
    status === "5xx" ? ERROR_CODES[c].status >= 500 : ERROR_CODES[c].status === status,
  );
}

/**
 * `details` of a 422: for GH_ERR_INVALID_RULE the rule error's kind and span (UTF-16 code units)
 * and every problem; for the other 422 codes where the body was wrong (path, index or line).
 * Open: a code may carry more.
 */
const UnprocessableDetails = T.Object(
  {
    kind: T.Optional(T.String()),
    span: T.Optional(RuleSpan),
    path: T.Optional(T.String()),
    problems: T.Optional(
      T.Array(
        T.Object(
          {
            path: T.String(),
            message: T.String(),
            kind: T.Optional(T.String()),
            span: T.Optional(RuleSpan),
          },
          { additionalProperties: true },
        ),
      ),
    ),
  },
  { additionalProperties: true },
);

/**
 * The error body answered with `status` ("5xx": any server-side failure): its code is one of
 * the catalogue's for that status. `$id` `Error<status>` names it in the OpenAPI document.
 */
export function ErrorBodyOf(status: number | "5xx") {
  const codes = errorCodesOf(status);
  if (codes.length === 0) throw new Error(`no error code answers ${status}`);
  return T.Object(
    {
      error: T.Object({
        code: T.Union(codes.map((c) => T.Literal(c))),
        message: T.String(),
        details: T.Optional(status === 422 ? UnprocessableDetails : T.Unknown()),
      }),
    },
    {
      $id: `Error${status}`,
      description: codes.map((c) => `${c}: ${ERROR_CODES[c].summary}`).join("; "),
    },
  );
}

/** Every status the catalogue answers with (each has its ErrorBodyOf). */
export const ERROR_STATUSES: readonly number[] = [
  ...new Set(Object.values(ERROR_CODES).map((i) => i.status)),
].sort((a, b) => a - b);

/** POST /import/{product}: what an import of another product's configuration did (or would do). */
export const ImportReportView = T.Object({
  product: T.String(),
  dryRun: T.Boolean(),
  /** What was (in a dry run: would be) created or changed, one line each. */
  created: T.Array(T.String()),
  /** Already there from an earlier import (found by name) and left alone. */
  skipped: T.Array(T.String()),
  /** What the file holds that has no Gatehouse equivalent, with the reason. */
  notMapped: T.Array(T.Object({ item: T.String(), reason: T.String() })),
  /** The version published at the end, when something changed. */
  publishedVersion: T.Optional(T.Integer()),
});
export type ImportReportView = Static<typeof ImportReportView>;

/** The two managed lists that one-click Block and Allow (the query log's) write to. */
export const QUICK_RULE_ACTIONS = ["block", "allow"] as const;
export type QuickRuleAction = (typeof QUICK_RULE_ACTIONS)[number];

/** POST /quick-rules and /quick-rules/remove: what changed and which version now serves it. */
export const QuickRuleResult = T.Object({
  /** The name as stored (lowercase, A-labels); it and its subdomains are matched. */
  domain: T.String(),
  action: T.Union(QUICK_RULE_ACTIONS.map((a) => T.Literal(a))),
  /** False when the name was already in (add) or not in (remove) the list. */
  changed: T.Boolean(),
  /** Adding to one list takes the name out of the other; this says it did (for an undo). */
  removedFrom: Nullable(T.Union(QUICK_RULE_ACTIONS.map((a) => T.Literal(a)))),
  listId: T.String(),
  /** The managed policy (null after a remove when an admin deleted it). */
  policyId: Nullable(T.String()),
  /** The version published with the change (null when the configuration did not compile). */
  publishedVersion: Nullable(T.Integer()),
  /** Why nothing was published, when publishedVersion is null. */
  publishError: T.Optional(T.String()),
});
export type QuickRuleResult = Static<typeof QuickRuleResult>;

/**
 * GET /locations/{id}/connect: how a device joins a location — the addresses it is given, the
 * certificate it sees, and setup steps per platform (the dashboard's Connect page and
 * `gatehouse connect` show the same).
 */
const ConnectDns = T.Array(T.Object({ address: T.String(), port: T.Integer() }));
const ConnectDoh = T.Object({ url: T.String(), host: T.String(), port: T.Integer() });
const ConnectDot = T.Object({ hostname: T.String(), address: T.String(), port: T.Integer() });
const ConnectProxy = T.Object({ address: T.String(), pacUrl: T.String() });
const ConnectScope = T.Union([T.Literal("loopback"), T.Literal("lan")]);

export const ConnectInfoView = T.Object({
  location: T.Object({ id: T.String(), name: T.String() }),
  /** Where Gatehouse listens: this machine only, or the local network too. */
  scope: ConnectScope,
  /** Who may use it: sources inside these networks (and DoH with the location's URL). */
  networks: T.Array(T.String()),
  /** Plain DNS over UDP and TCP. */
  dns: ConnectDns,
  /** DNS over HTTPS: the URL carries the location's token. */
  doh: T.Optional(ConnectDoh),
  /** DNS over TLS: the name to give a device (Android's Private DNS, systemd-resolved). */
  dot: T.Optional(ConnectDot),
  proxy: T.Optional(ConnectProxy),
  dashboardUrl: T.Optional(T.String()),
  /** The certificate DoT and DoH present. */
  certificate: T.Optional(
    T.Object({
      source: T.Union([T.Literal("files"), T.Literal("acme"), T.Literal("self-signed")]),
      sha256: T.String(),
      subject: T.String(),
      notAfter: T.String(),
      names: T.Array(T.String()),
      pem: T.String(),
    }),
  ),
  /** The edge these addresses are of, when they come from an edge's report (a standalone control). */
  servedBy: T.Optional(T.Object({ id: T.String(), name: T.String() })),
  /**
   * Every edge that serves the location and reported what it serves (not decommissioned), the
   * one above first: a device may be pointed at any of them.
   */
  edges: T.Optional(
    T.Array(
      T.Object({
        id: T.String(),
        name: T.String(),
        status: T.String(),
        /** Three missed heartbeats: it may be down. */
        stale: T.Boolean(),
        scope: ConnectScope,
        dns: ConnectDns,
        doh: T.Optional(ConnectDoh),
        dot: T.Optional(ConnectDot),
        proxy: T.Optional(ConnectProxy),
        certificate: T.Optional(
          T.Object({ sha256: T.String(), notAfter: T.String(), names: T.Array(T.String()) }),
        ),
        warnings: T.Array(T.String()),
      }),
    ),
  ),
  /** API paths of the Apple configuration profiles for this location. */
  profiles: T.Object({ doh: T.Optional(T.String()), dot: T.Optional(T.String()) }),
  /** What a device will trip over (a port other than 53, a certificate it will not trust). */
  warnings: T.Array(T.String()),
  /** Setup, step by step, per platform. */
  guides: T.Array(T.Object({ id: T.String(), title: T.String(), steps: T.Array(T.String()) })),
});
export type ConnectInfoView = Static<typeof ConnectInfoView>;

/** GET /pause, and the answer of POST /pause and /pause/resume: blocking paused now, and where. */
export const PauseState = T.Object({
  pauses: T.Array(
    T.Object({
      /** The location paused; null: every client, or the one client named. */
      locationId: Nullable(T.String()),
      locationName: Nullable(T.String()),
      /** The one client paused (its IP address); null: a location or every client. */
      client: Nullable(T.String()),
      /** That client's given name, if it has one. */
      clientName: Nullable(T.String()),
      /** When blocking resumes by itself; null: until resumed. */
      until: Nullable(Instant),
      pausedBy: T.String(),
      pausedAt: Instant,
    }),
  ),
  /** After a change: the version that carries it to the edges (null when none was published). */
  publishedVersion: T.Optional(Nullable(T.Integer())),
  publishError: T.Optional(T.String()),
});
export type PauseState = Static<typeof PauseState>;

/** Edge labels: stages of a rollout select edges by them. */
export const EdgeLabels = T.Record(
  T.String({ pattern: "^[a-z0-9_.-]{1,40}$" }),
  T.String({ minLength: 1, maxLength: 100 }),
  { maxProperties: 20, additionalProperties: false },
);
export type EdgeLabels = Static<typeof EdgeLabels>;

/**
 * Gate thresholds. A ratio gate fails when the stage's edges exceed both `…Max` (absolute) and
 * the reference (edges still on the old version, else the stage's own pre-rollout rate) by more
 * than `…Delta`.
 */
export const RolloutGates = T.Object(
  {
    /** Queries the stage's edges must answer during the bake for ratio gates to judge. */
    minQueries: T.Optional(T.Integer({ minimum: 1, maximum: 1_000_000, default: 100 })),
    servfailRatioMax: T.Optional(T.Number({ minimum: 0, maximum: 1, default: 0.05 })),
    servfailRatioDelta: T.Optional(T.Number({ minimum: 0, maximum: 1, default: 0.02 })),
    blockedRatioMax: T.Optional(T.Number({ minimum: 0, maximum: 1, default: 0.5 })),
    blockedRatioDelta: T.Optional(T.Number({ minimum: 0, maximum: 1, default: 0.2 })),
    upstreamErrorRatioMax: T.Optional(T.Number({ minimum: 0, maximum: 1, default: 0.05 })),
    upstreamErrorRatioDelta: T.Optional(T.Number({ minimum: 0, maximum: 1, default: 0.02 })),
    proxyErrorRatioMax: T.Optional(T.Number({ minimum: 0, maximum: 1, default: 0.05 })),
    proxyErrorRatioDelta: T.Optional(T.Number({ minimum: 0, maximum: 1, default: 0.02 })),
    minProxyRequests: T.Optional(T.Integer({ minimum: 1, maximum: 1_000_000, default: 100 })),
    /** p99 answer latency: fails above this many ms and this factor of the reference. */
    p99LatencyMsMax: T.Optional(T.Integer({ minimum: 1, maximum: 60_000, default: 500 })),
    p99LatencyFactor: T.Optional(T.Number({ minimum: 1, maximum: 100, default: 2 })),
  },
  { additionalProperties: false },
);
export type RolloutGates = Static<typeof RolloutGates>;

export const RolloutStage = T.Object(
  {
    name: T.String({ minLength: 1, maxLength: 60 }),
    /** Edges whose labels include all of these. */
    labels: T.Optional(EdgeLabels),
    /** Edges by id. */
    edgeIds: T.Optional(T.Array(T.String({ minLength: 1, maxLength: 200 }), { maxItems: 1000 })),
    /** This share of all the rollout's edges in total (cumulative, rounded up). */
    percent: T.Optional(T.Integer({ minimum: 1, maximum: 100 })),
    /** How long the stage's edges run the new version before the gates judge them. */
    bakeSeconds: T.Number({ minimum: 0, maximum: 7 * 86400 }),
  },
  { additionalProperties: false },
);
export type RolloutStage = Static<typeof RolloutStage>;

export const RolloutPlan = T.Object(
  {
    stages: T.Array(RolloutStage, { minItems: 1, maxItems: 20 }),
    gates: T.Optional(RolloutGates),
  },
  { additionalProperties: false },
);
export type RolloutPlan = Static<typeof RolloutPlan>;

export const ROLLOUT_STATES = [
  "baking",
  "paused",
  "completed",
  "failed",
  "aborted",
  "superseded",
] as const;
export type RolloutState = (typeof ROLLOUT_STATES)[number];

export const GateResult = T.Object({
  gate: T.String(),
  ok: T.Boolean(),
  /** The stage's edges on the new version. */
  value: Nullable(T.Number()),
  /** What it was compared with (old-version edges or the baseline). */
  reference: Nullable(T.Number()),
  threshold: T.Number(),
  detail: T.String(),
});
export type GateResult = Static<typeof GateResult>;

export const RolloutView = T.Object({
  id: T.String(),
  version: T.Integer(),
  previousVersion: T.Integer(),
  state: T.Union(ROLLOUT_STATES.map((s) => T.Literal(s))),
  /** Index of the current (or last) stage. */
  stage: T.Integer(),
  plan: RolloutPlan,
  stages: T.Array(
    T.Object({
      name: T.String(),
      edgeIds: T.Array(T.String()),
      startedAt: Nullable(Instant),
      bakeStartedAt: Nullable(Instant),
      finishedAt: Nullable(Instant),
      gates: T.Array(GateResult),
    }),
  ),
  /** Edges still held at the previous version. */
  heldEdgeIds: T.Array(T.String()),
  failure: Nullable(
    T.Object({ gate: T.String(), message: T.String(), rollbackVersion: Nullable(T.Integer()) }),
  ),
  createdBy: T.String(),
  createdAt: Instant,
  updatedAt: Instant,
});
export type RolloutView = Static<typeof RolloutView>;

// Policy tests: cases stored with the configuration ("a query for ads.example.com from
// location Office is blocked by policy Block ads"), run by POST /config/check, by
// `gatehouse config test FILE.yaml` and before every publish (a failing case refuses it).

const TestName = T.String({ minLength: 1, maxLength: 200 });
const TestIp = T.String({ minLength: 2, maxLength: 64, description: "an IP address" });

/** What a case expects: the action, and optionally the deciding policy (name or id). */
const PolicyTestExpect = T.Object(
  {
    action: T.Union(
      ["allow", "block", "override", "safesearch", "ytrestricted", "do_not_inspect"].map((a) =>
        T.Literal(a),
      ),
    ),
    /** The policy that decides, by name or id; `null`: no policy matches (the default allow). */
    policy: T.Optional(T.Union([T.String({ minLength: 1, maxLength: 200 }), T.Null()])),
  },
  { additionalProperties: false },
);

export const PolicyTestCase = T.Object(
  {
    name: TestName,
    /** A DNS query: the edge's DNS policies (query phase; response phase when `answer` is given). */
    dns: T.Optional(
      T.Object(
        {
          query: T.String({ minLength: 1, maxLength: 253 }),
          /** Query type; default A. */
          type: T.Optional(T.String({ minLength: 1, maxLength: 16, pattern: "^[A-Za-z0-9]+$" })),
          /** Location by name; default: the one whose networks hold `sourceIp`. */
          location: T.Optional(T.String({ minLength: 1, maxLength: 200 })),
          sourceIp: T.Optional(TestIp),
          transport: T.Optional(T.Union(["udp", "tcp", "dot", "doh"].map((t) => T.Literal(t)))),
          /** The upstream's answer, for response-phase policies (resolved IPs, CNAMEs, rcode). */
          answer: T.Optional(
            T.Object(
              {
                ips: T.Optional(T.Array(TestIp, { maxItems: 64 })),
                cnames: T.Optional(T.Array(T.String({ maxLength: 253 }), { maxItems: 64 })),
                rcode: T.Optional(T.String({ maxLength: 16 })),
              },
              { additionalProperties: false },
            ),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    /**
     * A proxied HTTP request: network policies, then HTTP policies (plain HTTP), as the edge's
     * proxy runs them. `request` is "METHOD URL" ("GET http://intranet/") or "CONNECT host:port".
     */
    http: T.Optional(
      T.Object(
        {
          request: T.String({ minLength: 3, maxLength: 4096 }),
          location: T.Optional(T.String({ minLength: 1, maxLength: 200 })),
          sourceIp: T.Optional(TestIp),
          /** The authenticated user, by email (their name and groups come from the config). */
          user: T.Optional(T.String({ minLength: 3, maxLength: 320 })),
          /** Group names; default: the user's groups. */
          groups: T.Optional(T.Array(T.String({ maxLength: 200 }), { maxItems: 100 })),
          headers: T.Optional(
            T.Record(T.String({ maxLength: 200 }), T.String({ maxLength: 8192 }), {
              maxProperties: 100,
            }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    /** Evaluate schedules at this time (ISO 8601); default now. */
    at: T.Optional(T.String({ minLength: 10, maxLength: 40 })),
    expect: PolicyTestExpect,
  },
  { additionalProperties: false },
);
export type PolicyTestCase = Static<typeof PolicyTestCase>;

export const PolicyTests = T.Array(PolicyTestCase, { maxItems: 1000 });

export const PolicyTestResult = T.Object({
  name: T.String(),
  /** JSON pointer of the case, e.g. `/tests/2`. */
  path: T.String(),
  /** Where the case starts in the YAML sent, 1-based; absent for stored cases. */
  line: T.Optional(T.Integer()),
  column: T.Optional(T.Integer()),
  passed: T.Boolean(),
  expected: T.Object({ action: T.String(), policy: T.Optional(Nullable(T.String())) }),
  /** What the configuration decides, and the deciding policy (null: none matched). */
  actual: T.Object({
    action: T.String(),
    policyId: Nullable(T.String()),
    policyName: Nullable(T.String()),
  }),
  /** Why it failed, or why the case cannot run (an unknown location, a malformed request). */
  message: T.Optional(T.String()),
  /**
   * What else decides the edge's answer besides the policies: a local zone answering the name,
   * a blocking pause in force (see docs/policies.md, "Policy tests").
   */
  notes: T.Optional(T.Array(T.String())),
});
export type PolicyTestResult = Static<typeof PolicyTestResult>;

export const PolicyTestReport = T.Object({
  passed: T.Integer(),
  failed: T.Integer(),
  results: T.Array(PolicyTestResult),
});
export type PolicyTestReport = Static<typeof PolicyTestReport>;

/** POST /config/check: the validation of GET /config/check, plus the policy tests' results. */
export const ConfigCheckWithTests = T.Composite([
  ConfigCheck,
  T.Object({
    tests: PolicyTestReport,
    /** Problems of a sent document, with their place in its YAML (1-based line and column). */
    spans: T.Optional(
      T.Array(T.Object({ path: T.String(), line: T.Integer(), column: T.Integer() })),
    ),
  }),
]);
export type ConfigCheckWithTests = Static<typeof ConfigCheckWithTests>;

/** POST /config/plan: what applying a YAML document would change, and its policy tests. */
export const ConfigPlanResult = T.Object({
  changes: T.Array(
    T.Object({
      kind: T.Union(
        ["policy", "list", "location", "localZone", "user", "device", "test"].map((k) =>
          T.Literal(k),
        ),
      ),
      op: T.Union([T.Literal("add"), T.Literal("remove"), T.Literal("change")]),
      name: T.String(),
      fields: T.Optional(T.Array(T.String())),
      items: T.Optional(T.Object({ added: T.Integer(), removed: T.Integer() })),
    }),
  ),
  /** Whole sections that differ: settings, resolver, rolloutPlan. */
  sections: T.Array(T.String()),
  add: T.Integer(),
  change: T.Integer(),
  remove: T.Integer(),
  /** The document's tests (the stored ones when it has no `tests`) against the document. */
  tests: PolicyTestReport,
});
export type ConfigPlanResult = Static<typeof ConfigPlanResult>;

const NamedChanges = T.Object({
  added: T.Array(T.String()),
  removed: T.Array(T.String()),
  changed: T.Array(T.String()),
});

/** GET /config/preview: what the next publish changes against the live bundle, in names. */
export const PublishPreview = T.Object({
  /** The latest published version compared with (null: nothing published yet). */
  liveVersion: Nullable(T.Integer()),
  /** False when the draft does not compile (`problems`): a publish would be refused. */
  ok: T.Boolean(),
  problems: T.Array(T.Object({ path: T.String(), message: T.String() })),
  policies: NamedChanges,
  lists: T.Composite([
    NamedChanges,
    T.Object({
      items: T.Array(
        T.Object({
          name: T.String(),
          added: T.Integer(),
          removed: T.Integer(),
          /** Up to 10 of the items added and removed. */
          addedSample: T.Array(T.String()),
          removedSample: T.Array(T.String()),
        }),
      ),
    }),
  ]),
  locations: NamedChanges,
  users: NamedChanges,
  devices: NamedChanges,
  resolverChanged: T.Boolean(),
  settingsChanged: T.Boolean(),
  /** The stored policy tests against the draft (a failing one refuses the publish). */
  tests: PolicyTestReport,
  /**
   * The draft's policies replayed over the last 24 hours of logged traffic: queries and
   * requests it would newly block or unblock, top 10 domains and clients. Null when control
   * keeps no query log, or nothing would be replayed (`simulationNote` says why).
   */
  simulation: Nullable(SimulateResult),
  simulationNote: T.Optional(T.String()),
});
export type PublishPreview = Static<typeof PublishPreview>;
