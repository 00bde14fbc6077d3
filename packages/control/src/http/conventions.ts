// API conventions shared by every resource: cursor pagination, ETag / If-Match (RFC 9110
// §8.8.3, §13.1.1), Idempotency-Key on creates (draft-ietf-httpapi-idempotency-key-header),
// timestamps as RFC 3339 strings.

import { createHash } from "node:crypto";
import { GatehouseError } from "@gatehouse/contract";
import { Type as T } from "@sinclair/typebox";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Db } from "../context.ts";

export const PageQuery = T.Object(
  {
    limit: T.Optional(T.Integer({ minimum: 1, maximum: 1000, default: 100 })),
    cursor: T.Optional(T.String({ minLength: 1, maxLength: 1024 })),
  },
  { additionalProperties: false },
);

export function pageOf<T>(T_item: T) {
  return T.Object({
    items: T.Array(T_item as never),
    nextCursor: T.Union([T.String(), T.Null()]),
  });
}

/** Opaque cursor: base64url of the last key seen. */
export function encodeCursor(key: string): string {
  return Buffer.from(key, "utf8").toString("base64url");
}

export function decodeCursor(cursor: string | undefined): string | undefined {
  if (cursor === undefined) return undefined;
  if (!/^[A-Za-z0-9_-]+$/.test(cursor))
    throw new GatehouseError("GH_ERR_BAD_REQUEST", "malformed cursor");
  return Buffer.from(cursor, "base64url").toString("utf8");
}

/** Items fetched with limit+1 → the page and the next cursor. */
export function page<R, O>(
  rows: readonly R[],
  limit: number,
  keyOf: (r: R) => string,
  view: (r: R) => O,
): { items: O[]; nextCursor: string | null } {
  const more = rows.length > limit;
  const shown = more ? rows.slice(0, limit) : rows;
  const last = shown.at(-1);
  return {
    items: shown.map(view),
    nextCursor: more && last !== undefined ? encodeCursor(keyOf(last)) : null,
  };
}

export function etagOf(version: number): string {
  return `"${version}"`;
}

/**
 * If-Match on an update or delete: absent → proceed; `*` → proceed; otherwise the current ETag
 * must be in the list, else 412. Weak tags never match (RFC 9110 §13.1.1 uses strong comparison).
 */
export function checkIfMatch(req: FastifyRequest, version: number): void {
  const h = req.headers["if-match"];
  if (h === undefined) return;
  const value = Array.isArray(h) ? h.join(",") : h;
  if (value.trim() === "*") return;
  const current = etagOf(version);
  const tags = value.split(",").map((t) => t.trim());
  if (!tags.includes(current))
    throw new GatehouseError(
      "GH_ERR_PRECONDITION_FAILED",
      "the resource changed since you read it",
      {
        etag: current,
      },
    );
}

export function iso(d: Date | null | undefined): string | null {
  return d ? d.toISOString() : null;
}

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/**
 * Run a create under an Idempotency-Key: the first request runs and its response is stored;
 * a retry with the same key and the same body gets the stored response; the same key with a
 * different body is 422 (the draft's "key reuse"). Without the header the create just runs.
 */
export async function idempotent<B>(
  db: Db,
  req: FastifyRequest,
  reply: FastifyReply,
  accountId: string,
  create: () => Promise<{ status: number; body: B }>,
): Promise<B> {
  const header = req.headers["idempotency-key"];
  if (header === undefined) {
    const r = await create();
    reply.status(r.status);
    return r.body;
  }
  if (typeof header !== "string" || !IDEMPOTENCY_KEY.test(header))
    throw new GatehouseError("GH_ERR_BAD_REQUEST", "Idempotency-Key must be 1-255 visible ASCII");
  const requestHash = createHash("sha256")
    .update(`${req.method} ${req.routeOptions.url}\n${JSON.stringify(req.params)}\n`)
    .update(JSON.stringify(req.body ?? null))
    .digest("hex");
  const prior = await db
    .selectFrom("idempotency_keys")
    .select(["request_hash", "status", "response"])
    .where("account_id", "=", accountId)
    .where("key", "=", header)
    .executeTakeFirst();
  if (prior) {
    if (prior.request_hash !== requestHash)
      throw new GatehouseError(
        "GH_ERR_VALIDATION",
        "this Idempotency-Key was used with a different request",
      );
    reply.status(prior.status).header("idempotent-replayed", "true");
    // What this route answered before, stored as JSON by the create below.
    return prior.response as B;
  }
  const r = await create();
  await db
    .insertInto("idempotency_keys")
    .values({
      account_id: accountId,
      key: header,
      request_hash: requestHash,
      status: r.status,
      response: JSON.stringify(r.body),
    })
    .onConflict((oc) => oc.doNothing())
    .execute();
  reply.status(r.status);
  return r.body;
}
