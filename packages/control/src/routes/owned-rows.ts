// Reads of the rows an account owns, shared by the resource routes: one row by id (404 when it
// is not this account's) and cursor pages ordered by id (`?limit=&cursor=`, equality filters).

import type { Kysely, Selectable } from "kysely";
import type { Db } from "../context.ts";
import type { Database } from "../db/schema.ts";
import { decodeCursor, page } from "../http/conventions.ts";
import { notFound } from "../http/errors.ts";

/** Tables whose rows carry an id, an owning account and a version for If-Match. */
export type AuditedTable =
  | "policies"
  | "lists"
  | "locations"
  | "local_zones"
  | "identity_users"
  | "identity_devices";
export type RowOf<N extends AuditedTable> = Selectable<Database[N]>;

export interface AuditedResource<N extends AuditedTable, V = unknown> {
  readonly table: N;
  /** Audit-log resource name, also the noun of the 404 and 412 messages. */
  readonly resource: string;
  /** What the API shows and the audit log records (never a secret or a hash). */
  readonly view: (row: RowOf<N>) => V;
}

/** The columns every audited table shares: enough to address and version a row. */
export interface VersionedRow {
  id: string;
  account_id: string;
  version: number;
  updated_at: Date;
}
// Kysely cannot type a query over a table name that is a type parameter; the queries below
// only touch the shared columns above, so they run against this one-table view of the schema.
export type Shared = Kysely<{ audited: VersionedRow }>;

/** The account's row with that id; 404 (naming the resource) when there is none. */
export async function loadOwned<N extends AuditedTable>(
  db: Db,
  r: AuditedResource<N, unknown>,
  accountId: string,
  id: string,
): Promise<RowOf<N>> {
  const row = await (db as unknown as Shared)
    .selectFrom(r.table as unknown as "audited")
    .selectAll()
    .where("account_id", "=", accountId)
    .where("id", "=", id)
    .executeTakeFirst();
  if (!row) throw notFound(r.resource);
  return row as unknown as RowOf<N>;
}

/** Column → value the rows must equal; undefined values are not filtered on. */
export type Filters<N extends AuditedTable> = {
  readonly [C in keyof RowOf<N> & string]?: string | number | boolean | undefined;
};

/** One page of the account's rows in id order, as views, with the cursor of the next page. */
export async function pageOwned<N extends AuditedTable, V>(
  db: Db,
  r: AuditedResource<N, V>,
  accountId: string,
  q: { readonly limit?: number; readonly cursor?: string },
  filters: Filters<N> = {},
): Promise<{ items: V[]; nextCursor: string | null }> {
  const limit = q.limit ?? 100;
  const after = decodeCursor(q.cursor);
  // Column names come from the route code (typed above), never from the request.
  let query = (db as unknown as Kysely<{ audited: Record<string, unknown> }>)
    .selectFrom(r.table as unknown as "audited")
    .selectAll()
    .where("account_id", "=", accountId);
  for (const [column, value] of Object.entries(filters))
    if (value !== undefined) query = query.where(column, "=", value);
  if (after !== undefined) query = query.where("id", ">", after);
  const rows = (await query
    .orderBy("id")
    .limit(limit + 1)
    .execute()) as unknown as RowOf<N>[];
  return page(rows, limit, (row) => (row as unknown as VersionedRow).id, r.view);
}
