// The one way a resource route changes or deletes a versioned row: in a transaction, read the
// row of the caller's account (404 otherwise), honour If-Match (412), write with optimistic
// concurrency (the update only applies to the version read; a concurrent writer gives 412), and
// record the before/after views in the audit log. Route-specific checks run inside the same
// transaction through the `check` hooks, so they see the row exactly as it is written.

import { GatehouseError } from "@gatehouse/contract";
import type { FastifyRequest } from "fastify";
import { audit } from "../audit.ts";
import { actorOf, type Db } from "../context.ts";
import { checkIfMatch } from "../http/conventions.ts";
import { type IdRequest, who } from "./common.ts";
import {
  type AuditedResource,
  type AuditedTable,
  loadOwned,
  type RowOf,
  type Shared,
  type VersionedRow,
} from "./owned-rows.ts";

export type { AuditedResource } from "./owned-rows.ts";

export interface Target {
  readonly accountId: string;
  readonly actor: string;
  readonly id: string;
  /** Its If-Match header is checked against the stored version. */
  readonly req: FastifyRequest;
}

/** The row a `/…/:id` route addresses, on behalf of its authenticated caller. */
export function target(req: IdRequest): Target {
  const p = who(req);
  return { accountId: p.accountId, actor: actorOf(p), id: req.params.id, req };
}

async function loadForWrite<N extends AuditedTable>(
  trx: Db,
  r: AuditedResource<N, unknown>,
  t: Target,
): Promise<RowOf<N>> {
  const before = await loadOwned(trx, r, t.accountId, t.id);
  checkIfMatch(t.req, (before as unknown as VersionedRow).version);
  return before;
}

/**
 * Apply `changes(before)` (column → value) and bump the version; returns the new row. `check`
 * may refuse the change (throw) after the row is read and before anything is written.
 */
export async function updateAudited<N extends AuditedTable>(
  db: Db,
  r: AuditedResource<N, unknown>,
  t: Target,
  action: string,
  changes: (before: RowOf<N>) => Record<string, unknown>,
  check?: (before: RowOf<N>, trx: Db) => Promise<void>,
): Promise<RowOf<N>> {
  return db.transaction().execute(async (trx) => {
    const before = await loadForWrite(trx, r, t);
    if (check) await check(before, trx);
    const version = (before as unknown as VersionedRow).version;
    const after = await (trx as unknown as Shared)
      .updateTable(r.table as unknown as "audited")
      .set({ ...changes(before), version: version + 1, updated_at: new Date() })
      .where("id", "=", t.id)
      .where("version", "=", version)
      .returningAll()
      .executeTakeFirst();
    if (!after)
      throw new GatehouseError("GH_ERR_PRECONDITION_FAILED", `the ${r.resource} changed meanwhile`);
    const row = after as unknown as RowOf<N>;
    await audit(trx, {
      accountId: t.accountId,
      actor: t.actor,
      resource: r.resource,
      resourceId: t.id,
      action,
      before: r.view(before),
      after: r.view(row),
    });
    return row;
  });
}

/** Delete the row; `check` may refuse (throw) after it is read and before it is deleted. */
export async function deleteAudited<N extends AuditedTable>(
  db: Db,
  r: AuditedResource<N, unknown>,
  t: Target,
  check?: (before: RowOf<N>, trx: Db) => Promise<void>,
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const before = await loadForWrite(trx, r, t);
    if (check) await check(before, trx);
    await (trx as unknown as Shared)
      .deleteFrom(r.table as unknown as "audited")
      .where("id", "=", t.id)
      .execute();
    await audit(trx, {
      accountId: t.accountId,
      actor: t.actor,
      resource: r.resource,
      resourceId: t.id,
      action: "delete",
      before: r.view(before),
    });
  });
}
