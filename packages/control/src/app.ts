// The control plane's HTTP application. Hooks, in the order Fastify runs them:
//   onRoute    — every route is recorded in the route table (the generated auth tests walk it)
//                and must declare `config.access`;
//   onRequest  — authenticate and authorise (before any body is read);
//   parse      — strict JSON (valid UTF-8, bounded depth), bodies ≤ bodyLimit;
//   validation — TypeBox JSON Schemas on params, query and body;
//   handler    — scoped to the principal's account;
//   onResponse — a successful change to the configuration schedules a debounced auto-publish.
// Errors of every stage become `{ error: { code, message, details } }` (http/errors.ts).

import { randomBytes } from "node:crypto";
import type { PGlite } from "@electric-sql/pglite";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import { GatehouseError, parseVersion } from "@gatehouse/contract";
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyRequest,
  type FastifyServerOptions,
} from "fastify";
import type { AnalyticsStore } from "./analytics/types.ts";
import { Authenticator, type AuthOptions, registerAuth } from "./auth/authenticate.ts";
import { PasswordSignIn } from "./auth/password-sign-in.ts";
import { bootstrap } from "./bootstrap.ts";
import { VersionNotifier } from "./bundle/notifier.ts";
import { Publisher } from "./bundle/publisher.ts";
import { bundleChannel, ReplicaFanout } from "./bundle/replica-fanout.ts";
import { RolloutManager } from "./bundle/rollout.ts";
import type { ServingEndpointsSource } from "./connect/connect-info.ts";
import type { AccessLevel, Db } from "./context.ts";
import { openStore, type Store } from "./db/open-store.ts";
import { defaultDashboardDir, registerDashboard } from "./http/dashboard.ts";
import { errorHandler } from "./http/errors.ts";
import { parseJsonBody } from "./http/json-body.ts";
import { lazyCompilers } from "./http/lazy-compilers.ts";
import { ReadCache } from "./http/read-cache.ts";
import { addErrorResponses, registerErrorSchemas } from "./http/responses.ts";
import { DOCS_CSP, registerSecurityHeaders } from "./http/security-headers.ts";
import { parseTrustedProxies } from "./http/trusted-proxies.ts";
import { SubscriptionRefresher } from "./lists/subscriptions.ts";
import { ControlMetrics, registerMetrics } from "./metrics.ts";
import { registerRoutes } from "./routes/index.ts";
import { MAX_INTERMEDIATE_VALIDITY_MS } from "./tls/intermediate.ts";
import { kekFromEnv, loadOrCreateKek, RootCaStore } from "./tls/root-ca.ts";

export const API_PREFIX = "/api/v1";
const DOCS_PREFIX = `${API_PREFIX}/docs`;

export interface AppOptions {
  /** PGlite data directory (default: in-memory when neither this nor databaseUrl is given). */
  readonly dataDir?: string;
  readonly databaseUrl?: string;
  /** Share an existing PGlite (tests). */
  readonly pglite?: PGlite;
  /** Database schema to work in (tests: a fresh one per group). */
  readonly schema?: string;
  /** Use an already opened store instead of opening one. */
  readonly store?: Store;
  /** GATEHOUSE_ADMIN_TOKEN. */
  readonly adminToken?: string;
  /** GATEHOUSE_ADMIN_PASSWORD: the first dashboard user's password instead of a generated one. */
  readonly adminPassword?: string;
  /** Pino logger options, or false. Default: info level with secrets redacted. */
  readonly logger?: FastifyServerOptions["logger"];
  /**
   * A pino logger to log through instead (the CLI's JSON operational logger); it must redact
   * secrets itself. Takes precedence over `logger`.
   */
  readonly loggerInstance?: FastifyBaseLogger;
  /** JSON body limit in bytes; default 1 MiB. */
  readonly bodyLimit?: number;
  /** Limit for streamed list-item bodies and YAML imports; default 256 MiB. */
  readonly bulkBodyLimit?: number;
  /** Auto-publish debounce (ms); 0 disables. Default 2000. */
  readonly autoPublishDelayMs?: number;
  /** Longest an edge long-poll waits before 304; default 30 s. */
  readonly longPollTimeoutMs?: number;
  /**
   * Cache of collection pages: expiry in ms (default 0 = until the account changes on PGlite,
   * 1000 on PostgreSQL where other replicas may write); negative disables the cache.
   */
  readonly readCacheTtlMs?: number;
  /** Expected edge heartbeat interval; an edge is stale after 3 missed beats. Default 10 s. */
  readonly heartbeatIntervalMs?: number;
  /**
   * Edges reporting an older software version are refused (426 GH_ERR_EDGE_TOO_OLD on enrolment,
   * heartbeats and config polls); absent: every version is served.
   */
  readonly minimumEdgeVersion?: string;
  /** How often running rollouts are looked at (gates, bake times); default 500 ms. */
  readonly rolloutTickMs?: number;
  /** How often due list subscriptions are fetched; default 60 s, 0 disables the loop. */
  readonly subscriptionTickMs?: number;
  readonly auth?: AuthOptions;
  /**
   * Reverse proxies (addresses or CIDRs) whose X-Forwarded-For names the client; from any
   * other peer the header is ignored. Default: none.
   */
  readonly trustedProxies?: readonly string[];
  /**
   * Query-log store: mounts /api/v1/analytics/* (viewer) and POST /api/v1/edge/logs (edge
   * credential), scoped to the caller's account. Absent → those routes do not exist.
   */
  readonly analytics?: AnalyticsStore;
  /**
   * The built web dashboard served at `/` (default: dist/ of @gatehouse/dashboard beside
   * control). Missing files → `/` explains how to build them.
   */
  readonly dashboardDir?: string;
  /**
   * Where the DNS, DoT, DoH and proxy listeners serve, for GET /locations/{id}/connect (set by
   * `gatehouse up`, which opens them); absent → that route answers 409.
   */
  readonly serving?: ServingEndpointsSource;
  /**
   * File holding the 32-byte key that encrypts the root CA's private key in the database
   * (created 0600 on first start). GATEHOUSE_CA_KEK (base64) takes precedence; with neither, a
   * key lives in memory only (fine for an in-memory store: the root dies with it).
   */
  readonly caKekFile?: string;
  /** The key-encryption key itself (tests). */
  readonly caKek?: Buffer;
  /** Validity of the intermediates signed for edges; default and maximum 30 days. */
  readonly intermediateValidityMs?: number;
}

export interface RouteEntry {
  readonly method: string;
  readonly url: string;
  readonly access: AccessLevel;
}

export interface ControlState {
  readonly db: Db;
  readonly store: Store;
  readonly auth: Authenticator;
  readonly notifier: VersionNotifier;
  readonly publisher: Publisher;
  readonly rollouts: RolloutManager;
  readonly options: Required<
    Pick<
      AppOptions,
      | "bulkBodyLimit"
      | "autoPublishDelayMs"
      | "longPollTimeoutMs"
      | "heartbeatIntervalMs"
      | "intermediateValidityMs"
    >
  > & { readonly minimumEdgeVersion?: string };
  /** The organisation root CAs (TLS inspection). */
  readonly roots: RootCaStore;
  /** Every route with its access level, for generated tests and docs. */
  readonly routes: RouteEntry[];
  readonly subscriptions: SubscriptionRefresher;
  /** Drop an account's cached pages (after a change made outside a request). */
  readonly invalidate: (accountId: string) => void;
  /** The system account id. */
  readonly systemAccountId: string;
  /** The query-log store, when control keeps one (publish preview's traffic simulation). */
  readonly analytics?: AnalyticsStore;
  /** Set when this start generated the first admin token (print it once). */
  readonly adminToken?: string;
  /** Set when this start created the dashboard user "admin" with a generated password. */
  readonly adminPassword?: string;
  /** Prometheus registry of this app (GET /metrics, or a separate listener). */
  readonly metrics: ControlMetrics;
  /** AppOptions.serving. */
  readonly serving?: ServingEndpointsSource;
  /** Compile the validators and serializers no request has needed yet (http/lazy-compilers.ts). */
  readonly compileAllSchemas: () => number;
}

declare module "fastify" {
  interface FastifyInstance {
    gatehouse: ControlState;
  }
}

/** Fields pino must never print. */
const REDACT = [
  "req.headers.authorization",
  "req.headers.cookie",
  "headers.authorization",
  "token",
  "*.token",
  "credential",
  "*.credential",
  "joinToken",
  "*.joinToken",
  // Proxy credential hashes allow offline guessing: in bundles and exports, never in logs.
  "credentialHash",
  "*.credentialHash",
  "password",
  "*.password",
  "*.currentPassword",
  "*.newPassword",
  'res.headers["set-cookie"]',
];

export async function buildApp(opts: AppOptions = {}): Promise<FastifyInstance> {
  if (opts.minimumEdgeVersion !== undefined && !parseVersion(opts.minimumEdgeVersion))
    throw new Error(
      `minimumEdgeVersion must be a version like 1.4.0, got ${JSON.stringify(opts.minimumEdgeVersion)}`,
    );
  const store =
    opts.store ??
    (await openStore({
      ...(opts.dataDir ? { dataDir: opts.dataDir } : {}),
      ...(opts.databaseUrl ? { databaseUrl: opts.databaseUrl } : {}),
      ...(opts.pglite ? { pglite: opts.pglite } : {}),
      ...(opts.schema ? { schema: opts.schema } : {}),
    }));
  const ownsStore = opts.store === undefined;
  let boot: Awaited<ReturnType<typeof bootstrap>>;
  let roots: RootCaStore;
  let kekIsEphemeral = false;
  try {
    const kek =
      opts.caKek ??
      kekFromEnv(process.env["GATEHOUSE_CA_KEK"]) ??
      (opts.caKekFile ? await loadOrCreateKek(opts.caKekFile) : undefined);
    kekIsEphemeral = kek === undefined;
    roots = new RootCaStore(store.db, kek ?? randomBytes(32));
    const passwords = new PasswordSignIn(store.db, opts.auth);
    boot = await bootstrap(store.db, opts.adminToken, {
      hashPassword: (pw) => passwords.hashPassword(pw),
      ...(opts.adminPassword !== undefined ? { password: opts.adminPassword } : {}),
    });
    // The system account's root CA is generated on first use (GET /tls/ca.pem, the first bundle
    // of a location that inspects), not here: a control that never inspects TLS does not load
    // the X.509 libraries (root-ca.ts, loadX509).
  } catch (err) {
    if (ownsStore) await store.close();
    throw err;
  }
  const compilers = lazyCompilers();
  const app = Fastify({
    schemaController: { compilersFactory: compilers.compilersFactory },
    ...(opts.loggerInstance
      ? { loggerInstance: opts.loggerInstance }
      : {
          logger: opts.logger ?? { level: "info", redact: { paths: REDACT, censor: "[redacted]" } },
        }),
    bodyLimit: opts.bodyLimit ?? 1024 * 1024,
    // X-Forwarded-For only from the configured proxies (http/trusted-proxies.ts).
    ...(opts.trustedProxies?.length
      ? { trustProxy: parseTrustedProxies(opts.trustedProxies.join(",")) }
      : {}),
    // Long-polls hold requests for up to 30 s; keep sockets a little longer than that.
    keepAliveTimeout: 35_000,
    ajv: { customOptions: { allErrors: false, coerceTypes: "array", removeAdditional: false } },
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
  });
  if (kekIsEphemeral && (opts.dataDir || opts.databaseUrl))
    app.log.warn(
      "no CA key-encryption key (caKekFile or GATEHOUSE_CA_KEK): the root CA's key will not decrypt after a restart",
    );
  const notifier = new VersionNotifier();
  const metrics = new ControlMetrics({
    db: store.db,
    heartbeatIntervalMs: opts.heartbeatIntervalMs ?? 10_000,
    waitingLongPolls: () => notifier.waiting(),
  });
  const publisher = new Publisher(store.db, notifier, {
    autoPublishDelayMs: opts.autoPublishDelayMs ?? 2000,
    log: app.log,
    onPublish: (result, seconds) => metrics.observePublish(result, seconds),
    onPolicyTests: (run, r) => metrics.countPolicyTests(run, r.passed, r.failed),
    roots,
    ...(store.postgres ? { notifyChannel: bundleChannel(store.postgres.schema) } : {}),
  });
  const fanout = store.postgres
    ? new ReplicaFanout(
        store.postgres.url,
        store.postgres.schema,
        (accountId, version, edgeId) =>
          edgeId === undefined
            ? publisher.remotePublished(accountId, version)
            : publisher.remotePinChanged(accountId, edgeId, version),
        app.log,
      )
    : undefined;
  const rollouts = new RolloutManager(store.db, publisher, {
    log: app.log,
    metrics,
    staleAfterMs: (opts.heartbeatIntervalMs ?? 10_000) * 3,
    ...(opts.rolloutTickMs !== undefined ? { tickMs: opts.rolloutTickMs } : {}),
  });
  publisher.useStager(rollouts);
  await rollouts.load();
  const auth = new Authenticator(store.db, opts.auth, metrics);
  const routes: RouteEntry[] = [];
  const cacheTtl = opts.readCacheTtlMs ?? (store.kind === "postgres" ? 1000 : 0);
  const cache = cacheTtl < 0 ? undefined : new ReadCache({ ttlMs: cacheTtl, maxBytes: 64 << 20 });
  const subscriptions = new SubscriptionRefresher(store.db, {
    log: app.log,
    tickMs: opts.subscriptionTickMs ?? 60_000,
    onChanged: (accountId) => {
      cache?.invalidate(accountId);
      publisher.changed(accountId, "subscription");
    },
  });
  const state: ControlState = {
    subscriptions,
    invalidate: (accountId: string) => cache?.invalidate(accountId),
    db: store.db,
    store,
    auth,
    notifier,
    publisher,
    rollouts,
    options: {
      bulkBodyLimit: opts.bulkBodyLimit ?? 256 * 1024 * 1024,
      autoPublishDelayMs: opts.autoPublishDelayMs ?? 2000,
      longPollTimeoutMs: opts.longPollTimeoutMs ?? 30_000,
      heartbeatIntervalMs: opts.heartbeatIntervalMs ?? 10_000,
      intermediateValidityMs: opts.intermediateValidityMs ?? MAX_INTERMEDIATE_VALIDITY_MS,
      ...(opts.minimumEdgeVersion !== undefined
        ? { minimumEdgeVersion: opts.minimumEdgeVersion }
        : {}),
    },
    routes,
    metrics,
    roots,
    systemAccountId: boot.accountId,
    ...(opts.analytics ? { analytics: opts.analytics } : {}),
    ...(boot.adminToken ? { adminToken: boot.adminToken } : {}),
    ...(boot.adminPassword ? { adminPassword: boot.adminPassword } : {}),
    ...(opts.serving ? { serving: opts.serving } : {}),
    compileAllSchemas: compilers.compileAll,
  };
  app.decorate("gatehouse", state);

  app.addHook("onRoute", (route) => {
    route.config ??= {};
    if (route.config.access === undefined && route.url.startsWith(DOCS_PREFIX))
      route.config.access = "public";
    addErrorResponses(route);
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      if (method === "HEAD" && route.url.startsWith(DOCS_PREFIX)) continue;
      routes.push({ method, url: route.url, access: route.config.access ?? ("none" as never) });
    }
  });
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "buffer" }, (_req, body, done) => {
    try {
      done(null, parseJsonBody(body as Buffer));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  registerErrorSchemas(app);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({
      error: {
        code: "GH_ERR_NOT_FOUND",
        message: `no route ${req.method} ${req.url.split("?")[0]}`,
      },
    });
  });
  registerAuth(app, auth);
  registerSecurityHeaders(app);
  if (cache) {
    // After auth (registered above): only an authorised principal reaches its account's pages.
    app.addHook("onRequest", async (req, reply) => {
      if (!req.routeOptions.config?.cacheable || !req.principal) return;
      const body = cache.get(req.principal.accountId, req.url, Date.now());
      if (body !== undefined)
        return reply.header("content-type", "application/json; charset=utf-8").send(body);
    });
    app.addHook("onSend", async (req, reply, payload) => {
      if (
        req.routeOptions.config?.cacheable &&
        req.principal &&
        reply.statusCode === 200 &&
        typeof payload === "string"
      )
        cache.set(req.principal.accountId, req.url, payload, Date.now());
      return payload;
    });
  }
  // A POST without a body validates as `{}`: routes whose body fields are all optional
  // (publish, join tokens) accept a bare POST; required fields still fail validation.
  app.addHook("preValidation", async (req) => {
    if (req.body === undefined && req.routeOptions.schema?.body) req.body = {};
  });
  app.addHook("onResponse", async (req, reply) => {
    if (req.method === "GET" || req.method === "HEAD") return;
    // Any attempted change drops the account's cached pages (even a failed one may have
    // written part of a change in another process's view; dropping is always safe).
    const accountId = req.principal?.accountId ?? req.edge?.accountId;
    if (accountId !== undefined) cache?.invalidate(accountId);
    if (req.routeOptions.config?.autoPublish && reply.statusCode < 300 && req.principal)
      publisher.changed(req.principal.accountId, req.principal.id);
  });

  await app.register(swagger, {
    // Shared schemas (the error bodies) keep their $id as their name under components.schemas.
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) =>
        typeof json.$id === "string" ? json.$id : `def-${i}`,
    },
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "Gatehouse control plane",
        version: "1",
        description:
          "Accounts, policies, lists, locations, identities and config bundles. Authenticate with `Authorization: Bearer <token>`.",
      },
      components: {
        securitySchemes: {
          bearer: {
            type: "http",
            scheme: "bearer",
            description: "API token (ght_…) or edge credential (ghe_…)",
          },
        },
      },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, {
    routePrefix: DOCS_PREFIX,
    staticCSP: DOCS_CSP,
    // Tags start collapsed: Swagger UI (5.x) expanding every tag at once stops rendering after
    // the first few operations once the document holds more than ~129 of them, silently (no
    // console error); collapsed, every tag renders and each expands on a click.
    uiConfig: { docExpansion: "none" },
  });
  app.get(
    `${API_PREFIX}/openapi.json`,
    { config: { access: "public" }, schema: { hide: true } },
    async () => app.swagger(),
  );
  app.get(
    `${API_PREFIX}/health`,
    { config: { access: "public" }, schema: { hide: true } },
    async () => ({
      ok: true,
    }),
  );

  // After swagger, so /metrics is in the OpenAPI document like every guarded route.
  registerMetrics(app, state.metrics);
  await app.register(registerRoutes, { prefix: API_PREFIX });
  if (opts.analytics) {
    // Loaded only when used; the plugins never authenticate: the global onRequest hook does,
    // from the `access` merged into each of their routes.
    const { analyticsRoutes } = await import("./analytics/routes.ts");
    const { edgeLogIngestRoutes } = await import("./analytics/ingest-route.ts");
    const { compileContent } = await import("./bundle/compile.ts");
    const accountOfApi = (req: FastifyRequest): string => {
      if (!req.principal) throw new GatehouseError("GH_ERR_UNAUTHENTICATED", "not authenticated");
      return req.principal.accountId;
    };
    await app.register(
      analyticsRoutes(opts.analytics, {
        routeConfig: { access: "viewer" },
        accountOf: accountOfApi,
        currentConfig: async (req) => {
          const c = await compileContent(store.db, accountOfApi(req));
          return { policies: c.policies, lists: c.lists };
        },
      }),
    );
    await app.register(
      edgeLogIngestRoutes(opts.analytics, {
        routeConfig: { access: "edge" },
        accountOf: (req) => {
          if (!req.edge) throw new GatehouseError("GH_ERR_UNAUTHENTICATED", "not authenticated");
          return req.edge.accountId;
        },
        edgeOf: (req) => req.edge?.id,
      }),
    );
  }

  // Last: its `/*` only takes what no route above matched (and leaves /api/* to the 404).
  registerDashboard(app, opts.dashboardDir ?? defaultDashboardDir());

  // Before the listener closes, not after: a config long-poll in flight keeps its connection,
  // and the server's close waits for it (up to the 30 s poll) unless the poll is answered now.
  app.addHook("preClose", async () => {
    notifier.closeAll();
  });
  app.addHook("onClose", async () => {
    await fanout?.close();
    await subscriptions.close();
    rollouts.close();
    await publisher.close();
    if (ownsStore) await store.close();
  });
  await app.ready();
  try {
    await fanout?.start();
  } catch (err) {
    await app.close();
    throw err;
  }
  subscriptions.start();
  return app;
}
