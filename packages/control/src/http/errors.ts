// Maps every failure to the one error body `{ error: { code, message, details } }` with the
// catalogue's status. Unknown errors are logged with their stack and answered as 500 without
// internals.

import { ERROR_CODES, type ErrorCode, GatehouseError } from "@gatehouse/contract";
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";

/** Postgres SQLSTATEs we translate (PostgreSQL docs, Appendix A). */
const PG_UNIQUE_VIOLATION = "23505";
const PG_FOREIGN_KEY_VIOLATION = "23503";

/** What a unique constraint means to an API user. */
const CONSTRAINT_MESSAGES: Readonly<Record<string, string>> = {
  policies_precedence_unique: "another policy of this type already has this precedence",
  lists_name_unique: "a list with this name already exists",
  locations_doh_token_unique: "this DoH token is already in use",
  locations_dot_label_unique: "another location already has this DoT label",
  identity_users_email_unique: "a user with this email already exists",
  identity_devices_name_unique: "a device with this name already exists",
};

function toGatehouseError(err: unknown): GatehouseError | undefined {
  if (err instanceof GatehouseError) return err;
  const e = err as Partial<FastifyError> & { constraint?: string; routine?: string };
  if (e && typeof e === "object") {
    if (e.code === PG_UNIQUE_VIOLATION) {
      const c = e.constraint ?? "";
      return new GatehouseError(
        "GH_ERR_CONFLICT",
        CONSTRAINT_MESSAGES[c] ?? "conflicts with an existing resource",
        c ? { constraint: c } : undefined,
      );
    }
    if (e.code === PG_FOREIGN_KEY_VIOLATION)
      return new GatehouseError("GH_ERR_VALIDATION", "refers to a resource that does not exist");
    if (e.validation) {
      return new GatehouseError(
        "GH_ERR_BAD_REQUEST",
        e.message ?? "invalid request",
        e.validation.map((v) => ({
          path: v.instancePath || "/",
          message: v.message ?? "invalid",
          ...(e.validationContext ? { in: e.validationContext } : {}),
        })),
      );
    }
    switch (e.code) {
      case "FST_ERR_CTP_BODY_TOO_LARGE":
        return new GatehouseError("GH_ERR_PAYLOAD_TOO_LARGE", "request body too large");
      case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
        return new GatehouseError("GH_ERR_UNSUPPORTED_MEDIA_TYPE", "unsupported content type");
      case "FST_ERR_CTP_EMPTY_JSON_BODY":
      case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      case "FST_ERR_CTP_INVALID_JSON_BODY":
        return new GatehouseError("GH_ERR_BAD_REQUEST", e.message ?? "malformed body");
    }
    if (typeof e.statusCode === "number" && e.statusCode >= 400 && e.statusCode < 500) {
      const code = (Object.keys(ERROR_CODES) as ErrorCode[]).find(
        (k) => ERROR_CODES[k].status === e.statusCode,
      );
      return new GatehouseError(code ?? "GH_ERR_BAD_REQUEST", e.message ?? "bad request");
    }
  }
  return undefined;
}

export function errorHandler(err: unknown, req: FastifyRequest, reply: FastifyReply): void {
  const ge = toGatehouseError(err);
  if (ge) {
    if (ge.status >= 500) req.log.error({ err }, ge.message);
    // RFC 9110 §10.2.3: tell a throttled client when to come back.
    const wait = (ge.details as { retryAfterSeconds?: unknown } | undefined)?.retryAfterSeconds;
    if (ge.code === "GH_ERR_RATE_LIMITED" && typeof wait === "number")
      void reply.header("retry-after", String(wait));
    void reply.status(ge.status).send(ge.toBody());
    return;
  }
  req.log.error({ err }, "unhandled error");
  const internal = new GatehouseError("GH_ERR_INTERNAL", "internal error");
  void reply.status(500).send(internal.toBody());
}

export function notFound(what: string): GatehouseError {
  return new GatehouseError("GH_ERR_NOT_FOUND", `${what} not found`);
}
