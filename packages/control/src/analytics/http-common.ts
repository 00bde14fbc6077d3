// Pieces shared by the analytics and ingestion route plugins: options, error mapping to the API's
// one error body, and time-range parsing.

import { GatehouseError } from "@gatehouse/contract";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { AnalyticsInputError } from "./types.ts";

/** An auth hook: replies 401/403 itself (or throws) when the request may not proceed. */
type AuthHook = (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

export interface RouteMountOptions {
  /**
   * The caller's auth hook (the control app's role check); these plugins never authenticate.
   * It runs as the route's first hook (onRequest), before the body is read or validated, so an
   * unauthenticated caller learns nothing from validation errors.
   */
  preHandler?: AuthHook;
  /** Merged into every route's `config` (e.g. the control app's `{ access: "viewer" }`). */
  routeConfig?: Record<string, unknown>;
  /** The account a request is scoped to; undefined = every record (single-account install). */
  accountOf?: (req: FastifyRequest) => string | undefined;
}

/**
 * Answer input errors here with `{ error: { code, message, details } }`; anything else goes to
 * the parent's error handler (the control app's), which logs it and answers 500.
 */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | Error, _req: FastifyRequest, reply: FastifyReply) => {
    const ge = asGatehouseError(err);
    if (ge === undefined) throw err;
    void reply.status(ge.status).send(ge.toBody());
  });
}

function asGatehouseError(err: unknown): GatehouseError | undefined {
  if (err instanceof GatehouseError) return err;
  if (err instanceof AnalyticsInputError)
    return new GatehouseError("GH_ERR_BAD_REQUEST", err.message);
  const e = err as Partial<FastifyError>;
  if (e?.validation) {
    return new GatehouseError(
      "GH_ERR_BAD_REQUEST",
      e.message ?? "invalid request",
      e.validation.map((v) => ({ path: v.instancePath || "/", message: v.message ?? "invalid" })),
    );
  }
  if (e?.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
    return new GatehouseError("GH_ERR_PAYLOAD_TOO_LARGE", "request body too large");
  }
  if (e?.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") {
    return new GatehouseError("GH_ERR_UNSUPPORTED_MEDIA_TYPE", "unsupported content type");
  }
  return undefined;
}

const DAY = 86_400_000;

/**
 * A time bound from a query string: integer milliseconds since the epoch or an ISO-8601 date.
 * Default range: the last 24 hours.
 */
export function parseRange(
  from: string | undefined,
  to: string | undefined,
  now = Date.now(),
): { from: number; to: number } {
  const t = to === undefined ? now : parseInstant(to, "to");
  const f = from === undefined ? t - DAY : parseInstant(from, "from");
  if (f >= t) throw new AnalyticsInputError("from must be before to");
  return { from: f, to: t };
}

function parseInstant(s: string, name: string): number {
  if (/^-?\d{1,16}$/.test(s)) return Number(s);
  // Date.parse accepts many shapes; require an ISO-8601 date so the meaning is unambiguous.
  if (/^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:\d{2})?)?$/.test(s)) {
    const v = Date.parse(s);
    if (Number.isFinite(v)) return v;
  }
  throw new AnalyticsInputError(`${name} must be milliseconds since the epoch or an ISO-8601 time`);
}
