// The analytics API (viewer role): time series, top N, log search, export and policy
// simulation under /api/v1/analytics. A Fastify plugin that does no authentication itself:
// the control app passes its auth hook as `preHandler` (and its route config) when mounting:
//
//   await app.register(analyticsRoutes(store, { preHandler, routeConfig: { access: "viewer" },
//     accountOf: (req) => req.principal?.accountId }));
//
// Register it without a prefix: the paths are absolute.

import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import {
  List,
  LOG_ACTIONS,
  LOG_KINDS,
  Policy,
  SearchResult,
  SimulateResult,
  TimeseriesResult,
  TopResult,
} from "@gatehouse/contract";
import { Type as T } from "@sinclair/typebox";
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from "fastify";
import { CONTENT_TYPES } from "./export-format.ts";
import { installErrorHandler, parseRange, type RouteMountOptions } from "./http-common.ts";
import { MAX_SEARCH_LIMIT, MAX_TOP_LIMIT } from "./query-sql.ts";
import { MAX_SIMULATION_LIMIT, simulate } from "./simulate.ts";
import {
  AnalyticsInputError,
  type AnalyticsStore,
  BUCKETS,
  EXPORT_FORMATS,
  type LogFilter,
  SERIES_BY,
  TOP_DIMENSIONS,
} from "./types.ts";

const ANALYTICS_PREFIX = "/api/v1/analytics";

/** An export's body: the records in the format asked for, streamed. */
const EXPORT_BODY = {
  description: "The records, streamed",
  content: Object.fromEntries(
    Object.values(CONTENT_TYPES).map((t) => [
      t.split(";", 1).join(""),
      { schema: { type: "string" } },
    ]),
  ),
};

const literals = <S extends string>(xs: readonly S[]) => T.Union(xs.map((x) => T.Literal(x)));
const Instant = T.String({
  maxLength: 40,
  description: "milliseconds since the epoch, or an ISO-8601 time",
});

const FilterQuery = {
  from: T.Optional(Instant),
  to: T.Optional(Instant),
  domainPrefix: T.Optional(T.String({ minLength: 1, maxLength: 255 })),
  domainSuffix: T.Optional(T.String({ minLength: 1, maxLength: 255 })),
  client: T.Optional(T.String({ minLength: 1, maxLength: 64 })),
  location: T.Optional(T.String({ minLength: 1, maxLength: 128 })),
  action: T.Optional(literals(LOG_ACTIONS)),
  policyId: T.Optional(T.String({ minLength: 1, maxLength: 128 })),
  rcode: T.Optional(T.String({ minLength: 1, maxLength: 16 })),
  status: T.Optional(T.Integer({ minimum: 0, maximum: 999 })),
  transport: T.Optional(T.String({ minLength: 1, maxLength: 16 })),
  kind: T.Optional(literals(LOG_KINDS)),
  edgeId: T.Optional(T.String({ minLength: 1, maxLength: 128 })),
  inspected: T.Optional(T.Boolean()),
  tlsVersion: T.Optional(T.String({ minLength: 1, maxLength: 16 })),
  alpn: T.Optional(T.String({ minLength: 1, maxLength: 32 })),
  originCert: T.Optional(T.String({ minLength: 1, maxLength: 64 })),
};

const TimeseriesQuery = T.Object(
  { ...FilterQuery, bucket: T.Optional(literals(BUCKETS)), by: T.Optional(literals(SERIES_BY)) },
  { additionalProperties: false },
);
const TopQuery = T.Object(
  {
    ...FilterQuery,
    dimension: literals(TOP_DIMENSIONS),
    limit: T.Optional(T.Integer({ minimum: 1, maximum: MAX_TOP_LIMIT })),
  },
  { additionalProperties: false },
);
const LogsQuery = T.Object(
  {
    ...FilterQuery,
    limit: T.Optional(T.Integer({ minimum: 1, maximum: MAX_SEARCH_LIMIT })),
    cursor: T.Optional(T.String({ minLength: 1, maxLength: 1024 })),
  },
  { additionalProperties: false },
);
const ExportQuery = T.Object(
  { ...FilterQuery, format: T.Optional(literals(EXPORT_FORMATS)) },
  { additionalProperties: false },
);
const SimulateBody = T.Object(
  {
    /** The whole draft of the types to simulate … */
    policies: T.Optional(T.Array(Policy, { maxItems: 10_000 })),
    /** … or one new/changed policy applied over the account's current policies. */
    policy: T.Optional(Policy),
    lists: T.Optional(T.Array(List, { maxItems: 10_000 })),
    from: T.Optional(Instant),
    to: T.Optional(Instant),
    limit: T.Optional(T.Integer({ minimum: 1, maximum: MAX_SIMULATION_LIMIT })),
    kinds: T.Optional(
      T.Array(literals(LOG_KINDS), { minItems: 1, maxItems: 3, uniqueItems: true }),
    ),
  },
  { additionalProperties: false },
);

interface AnalyticsRoutesOptions extends RouteMountOptions {
  /**
   * The account's current policies and lists, for a simulation that sends one changed
   * `policy` instead of a whole draft.
   */
  currentConfig?: (req: FastifyRequest) => Promise<{ policies: Policy[]; lists: List[] }>;
}

type FilterQ = {
  domainPrefix?: string;
  domainSuffix?: string;
  client?: string;
  location?: string;
  action?: LogFilter["action"];
  policyId?: string;
  rcode?: string;
  status?: number;
  transport?: string;
  kind?: LogFilter["kind"];
  edgeId?: string;
  inspected?: boolean;
  tlsVersion?: string;
  alpn?: string;
  originCert?: string;
};

function filterOf(q: FilterQ): LogFilter {
  const f: LogFilter = {};
  if (q.domainPrefix !== undefined) f.domainPrefix = q.domainPrefix;
  if (q.domainSuffix !== undefined) f.domainSuffix = q.domainSuffix;
  if (q.client !== undefined) f.client = q.client;
  if (q.location !== undefined) f.location = q.location;
  if (q.action !== undefined) f.action = q.action;
  if (q.policyId !== undefined) f.policyId = q.policyId;
  if (q.rcode !== undefined) f.rcode = q.rcode;
  if (q.status !== undefined) f.status = q.status;
  if (q.transport !== undefined) f.transport = q.transport;
  if (q.kind !== undefined) f.kind = q.kind;
  if (q.edgeId !== undefined) f.edgeId = q.edgeId;
  if (q.inspected !== undefined) f.inspected = q.inspected;
  if (q.tlsVersion !== undefined) f.tlsVersion = q.tlsVersion;
  if (q.alpn !== undefined) f.alpn = q.alpn;
  if (q.originCert !== undefined) f.originCert = q.originCert;
  return f;
}

/** A Fastify plugin with the analytics routes over `store`. */
export function analyticsRoutes(
  store: AnalyticsStore,
  opts: AnalyticsRoutesOptions = {},
): FastifyPluginAsync {
  return async (fastify: FastifyInstance) => {
    installErrorHandler(fastify);
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
    const config = opts.routeConfig ?? {};
    const onRequest = opts.preHandler ?? [];
    const scope = (req: FastifyRequest) => {
      const id = opts.accountOf?.(req);
      return id === undefined ? {} : { accountId: id };
    };
    const tags = ["analytics"];

    app.get(
      `${ANALYTICS_PREFIX}/timeseries`,
      {
        config,
        onRequest,
        schema: {
          tags,
          summary: "Record counts per minute, hour or day, split by one dimension",
          querystring: TimeseriesQuery,
          response: { 200: TimeseriesResult },
        },
      },
      async (req) => {
        const q = req.query;
        return store.timeseries({
          ...parseRange(q.from, q.to),
          ...scope(req),
          bucket: q.bucket ?? "hour",
          by: q.by ?? "action",
          filter: filterOf(q),
        });
      },
    );

    app.get(
      `${ANALYTICS_PREFIX}/top`,
      {
        config,
        onRequest,
        schema: {
          tags,
          summary: "Top N domains, blocked domains, clients, policies, lists or upstreams",
          querystring: TopQuery,
          response: { 200: TopResult },
        },
      },
      async (req) => {
        const q = req.query;
        return store.top({
          ...parseRange(q.from, q.to),
          ...scope(req),
          dimension: q.dimension,
          limit: q.limit ?? 10,
          filter: filterOf(q),
        });
      },
    );

    app.get(
      `${ANALYTICS_PREFIX}/logs`,
      {
        config,
        onRequest,
        schema: {
          tags,
          summary: "Search the query log, newest first, with cursor pagination",
          querystring: LogsQuery,
          response: { 200: SearchResult },
        },
      },
      async (req) => {
        const q = req.query;
        return store.search({
          ...parseRange(q.from, q.to),
          ...scope(req),
          limit: q.limit ?? 50,
          ...(q.cursor !== undefined ? { cursor: q.cursor } : {}),
          filter: filterOf(q),
        });
      },
    );

    app.get(
      `${ANALYTICS_PREFIX}/export`,
      {
        config,
        onRequest,
        schema: {
          tags,
          summary: "Stream the records of a range as NDJSON, CSV or Parquet (DuckDB store)",
          querystring: ExportQuery,
          response: { 200: EXPORT_BODY },
        },
      },
      async (req, reply) => {
        const q = req.query;
        const range = parseRange(q.from, q.to);
        const ex = await store.export({
          ...range,
          ...scope(req),
          format: q.format ?? "ndjson",
          filter: filterOf(q),
        });
        const name = `query-log-${new Date(range.from).toISOString().slice(0, 10)}.${ex.extension}`;
        // A failure after the first byte cannot become an error body: end the response.
        ex.stream.once("error", (err) => {
          req.log.error({ err }, "analytics export failed mid-stream");
        });
        return reply
          .header("content-type", ex.contentType)
          .header("content-disposition", `attachment; filename="${name}"`)
          .send(ex.stream);
      },
    );

    app.post(
      `${ANALYTICS_PREFIX}/simulate`,
      {
        config,
        onRequest,
        schema: {
          tags,
          summary: "Replay logged traffic through draft policies and report what would change",
          body: SimulateBody,
          response: { 200: SimulateResult },
        },
      },
      async (req) => {
        const b = req.body;
        let policies = b.policies;
        let lists = b.lists ?? [];
        if (b.policy !== undefined) {
          if (policies !== undefined) {
            throw new AnalyticsInputError(
              "send either policies (a whole draft) or policy, not both",
            );
          }
          if (opts.currentConfig === undefined) {
            throw new AnalyticsInputError("this server needs the whole draft in policies");
          }
          const current = await opts.currentConfig(req);
          const changed = b.policy;
          policies = [...current.policies.filter((p) => p.id !== changed.id), changed];
          const sent = new Set(lists.map((l) => l.name));
          lists = [...lists, ...current.lists.filter((l) => !sent.has(l.name))];
        }
        if (policies === undefined) throw new AnalyticsInputError("policies or policy is required");
        // One changed policy: replay only its type unless the caller says otherwise.
        const kinds = b.kinds ?? (b.policy !== undefined ? [b.policy.type] : undefined);
        return simulate(store, {
          ...parseRange(b.from, b.to),
          ...scope(req),
          policies,
          lists,
          ...(b.limit !== undefined ? { limit: b.limit } : {}),
          ...(kinds !== undefined ? { kinds } : {}),
        });
      },
    );
  };
}
