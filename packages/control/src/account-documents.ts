// Per-account JSON documents kept whole in one row (the rollout plan, the policy tests): read,
// replace (an upsert stamped with who did it) and remove, inside the caller's transaction.

import { sql } from "kysely";
import type { Db } from "./context.ts";

export const ACCOUNT_DOCUMENTS = {
  rolloutPlan: { table: "rollout_plans", column: "plan" },
  policyTests: { table: "policy_tests", column: "tests" },
} as const;
export type AccountDocument = (typeof ACCOUNT_DOCUMENTS)[keyof typeof ACCOUNT_DOCUMENTS];

/** The stored document, or undefined. */
export async function readAccountDocument(
  db: Db,
  doc: AccountDocument,
  accountId: string,
): Promise<unknown> {
  const r = await sql<{ v: unknown }>`select ${sql.ref(doc.column)} as v from ${sql.table(
    doc.table,
  )} where account_id = ${accountId}`.execute(db);
  const v = r.rows[0]?.v;
  return typeof v === "string" ? JSON.parse(v) : v;
}

/** Store `value` as the account's document; the one it replaced (undefined: none). */
export async function replaceAccountDocument(
  db: Db,
  doc: AccountDocument,
  accountId: string,
  actor: string,
  value: unknown,
): Promise<unknown> {
  const before = await readAccountDocument(db, doc, accountId);
  const col = sql.ref(doc.column);
  await sql`insert into ${sql.table(doc.table)} (account_id, ${col}, updated_by)
    values (${accountId}, ${JSON.stringify(value)}::jsonb, ${actor})
    on conflict (account_id) do update
    set ${col} = excluded.${col}, updated_by = excluded.updated_by, updated_at = now()`.execute(db);
  return before;
}

/** Remove the account's document; the one removed (undefined: there was none). */
export async function removeAccountDocument(
  db: Db,
  doc: AccountDocument,
  accountId: string,
): Promise<unknown> {
  const r = await sql<{ v: unknown }>`delete from ${sql.table(doc.table)}
    where account_id = ${accountId} returning ${sql.ref(doc.column)} as v`.execute(db);
  const v = r.rows[0]?.v;
  return typeof v === "string" ? JSON.parse(v) : v;
}
