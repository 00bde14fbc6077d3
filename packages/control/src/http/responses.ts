// Every route's error answers in its response schema, so the OpenAPI document lists them and
// Fastify serializes them by the documented shape. A route declares its successes in
// `schema.response` and the failures only it can have in `config.errors`; what follows from its
// access level and its schema is added here (onRoute), from one rule for all routes:
//   guarded route          → 401 (no or bad credential), 403 (role), 429 (failed-auth limit)
//   edge route             → 410 (the edge was decommissioned)
//   any request schema     → 400 (params, query, headers or body failed validation)
//   any method with a body → 400 (malformed JSON), 413 (too large), 415 (content type)
//   a path parameter       → 404 (no such resource in the caller's account)
//   every route            → 5XX (internal error, unavailable)
// Error bodies are the contract's ErrorBodyOf(status), registered once as shared schemas.

import { ERROR_STATUSES, ErrorBodyOf } from "@gatehouse/contract";
import { Type as T } from "@sinclair/typebox";
import type { FastifyInstance, RouteOptions } from "fastify";

/** A 204's response schema: no body. */
export const NoContent = { description: "No content", type: "null" } as const;
/** A 304's: nothing newer (no body). */
export const NotModified = {
  description: "Not modified: nothing newer than `after`",
  type: "null",
} as const;
/** A YAML document (GET /config/export). */
export const YamlDocument = {
  description: "The document",
  content: { "application/yaml": { schema: T.String() } },
};
/** Prometheus text exposition (GET /metrics). */
export const MetricsText = {
  description: "Prometheus text format",
  content: { "text/plain": { schema: T.String() } },
};

/** The shared error schemas' keys in `schema.response`. */
type ErrorKey = number | "5xx";

export function registerErrorSchemas(app: FastifyInstance): void {
  for (const s of ERROR_STATUSES) app.addSchema(ErrorBodyOf(s));
  app.addSchema(ErrorBodyOf("5xx"));
}

const ref = (k: ErrorKey) => ({ $ref: `Error${k}#` });

function hasProperties(schema: unknown): boolean {
  const p = (schema as { properties?: object } | undefined)?.properties;
  return p !== undefined && Object.keys(p).length > 0;
}

/** The error statuses a route can answer with, by the rule above plus `config.errors`. */
function errorStatusesOf(route: RouteOptions): ErrorKey[] {
  const out = new Set<ErrorKey>(route.config?.errors ?? []);
  const access = route.config?.access;
  if (access !== undefined && access !== "public") for (const s of [401, 403, 429]) out.add(s);
  // A decommissioned edge's credential is answered as revoked for good.
  if (access === "edge") out.add(410);
  const schema = route.schema ?? {};
  if (schema.params || schema.querystring || schema.body || schema.headers) out.add(400);
  const methods = Array.isArray(route.method) ? route.method : [route.method];
  if (methods.some((m) => m !== "GET" && m !== "HEAD")) for (const s of [400, 413, 415]) out.add(s);
  if (hasProperties(schema.params)) out.add(404);
  out.add("5xx");
  return [...out];
}

/** onRoute: add the error responses to a documented route's schema (a copy: schemas are shared). */
export function addErrorResponses(route: RouteOptions): void {
  if (route.schema?.hide) return;
  const response: Record<string, unknown> = {};
  for (const s of errorStatusesOf(route)) response[String(s)] = ref(s);
  route.schema = {
    ...route.schema,
    response: { ...response, ...(route.schema?.response as Record<string, unknown> | undefined) },
  };
}
