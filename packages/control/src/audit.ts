// The audit log: every change records who (token or edge id), when, what (resource, id,
// action) and the before/after JSON, in the same transaction as the change itself.

import type { Db } from "./context.ts";

export interface AuditEntry {
  readonly accountId: string;
  readonly actor: string;
  readonly resource: string;
  readonly resourceId: string | null;
  readonly action: string;
  readonly before?: unknown;
  readonly after?: unknown;
}

export async function audit(db: Db, e: AuditEntry): Promise<void> {
  await db
    .insertInto("audit_log")
    .values({
      account_id: e.accountId,
      actor: e.actor,
      resource: e.resource,
      resource_id: e.resourceId,
      action: e.action,
      before: e.before === undefined ? null : JSON.stringify(e.before),
      after: e.after === undefined ? null : JSON.stringify(e.after),
    })
    .execute();
}
