// /lists: named lists rules reference as `$name`, and their items. Bulk item bodies are read as
// a stream (JSON array, or text/plain lines in hosts/adblock/plain format) and written in
// batches inside one transaction, so a million-item upload never sits in memory whole and a
// bad item changes nothing.

import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import {
  BulkItemsResult,
  GatehouseError,
  gatewaySchemes,
  LIST_NAME_PATTERN,
  LIST_TYPES,
  ListItemsPage,
  type ListKind,
  ListUsers,
  ListView,
  Page,
  type PolicyType,
  type RejectedLine,
} from "@gatehouse/contract";
import { type Static, Type as T } from "@sinclair/typebox";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { sql } from "kysely";
import { audit } from "../audit.ts";
import { actorOf, type Db } from "../context.ts";
import {
  checkIfMatch,
  decodeCursor,
  etagOf,
  idempotent,
  PageQuery,
  page,
} from "../http/conventions.ts";
import { NoContent } from "../http/responses.ts";
import { newId } from "../ids.ts";
import { ITEM_FORMATS, type ItemFormat, normalizeItem, parseLine } from "../lists/list-items.ts";
import { readJsonArray, readLines } from "../lists/stream-items.ts";
import { listView } from "../views.ts";
import { type AuditedResource, deleteAudited, target, updateAudited } from "./audited-change.ts";
import { IdParams, type IdRequest, who } from "./common.ts";
import { loadOwned, pageOwned } from "./owned-rows.ts";

/** Contract: up to 1,000,000 items per list. */
const MAX_LIST_ITEMS = 1_000_000;
/** Items inlined in a create body (bigger sets go through the streamed items endpoint). */
const MAX_INLINE_ITEMS = 10_000;
const BATCH = 10_000;
/** Rejected lines named in an upload's answer and the list's status. */
const MAX_REJECTED_SHOWN = 10;

const ListType = T.Union(LIST_TYPES.map((t) => T.Literal(t)));
const ListName = T.String({ minLength: 1, maxLength: 128, pattern: LIST_NAME_PATTERN });
const Description = T.String({ maxLength: 2000 });
const Item = T.Union([T.String({ maxLength: 1024 }), T.Integer()]);

const ListCreate = T.Object(
  {
    name: ListName,
    type: ListType,
    description: T.Optional(Description),
    items: T.Optional(T.Array(Item, { maxItems: MAX_INLINE_ITEMS })),
  },
  { additionalProperties: false },
);
const ListPatch = T.Object(
  { name: T.Optional(ListName), description: T.Optional(T.Union([Description, T.Null()])) },
  { additionalProperties: false, minProperties: 1 },
);
const ListQuery = T.Composite([PageQuery, T.Object({ type: T.Optional(ListType) })], {
  additionalProperties: false,
});
const ItemsQuery = T.Composite(
  [PageQuery, T.Object({ prefix: T.Optional(T.String({ maxLength: 1024 })) })],
  { additionalProperties: false },
);
const BulkQuery = T.Object(
  { format: T.Optional(T.Union(ITEM_FORMATS.map((f) => T.Literal(f)))) },
  { additionalProperties: false },
);

const tags = ["lists"];
const LISTS: AuditedResource<"lists", ReturnType<typeof listView>> = {
  table: "lists",
  resource: "list",
  view: listView,
};

/** Renaming or deleting a list policies use would break them: 409 naming those policies. */
async function refuseWhileUsed(trx: Db, accountId: string, name: string): Promise<void> {
  const users = await policiesReferencing(trx, accountId, name);
  if (users.length > 0)
    throw new GatehouseError("GH_ERR_CONFLICT", `policies use $${name}; change them first`, {
      policies: users,
    });
}
const BULK_DESCRIPTION =
  "Body: a JSON array of items (`application/json`), or `text/plain` with one item a line " +
  "(domain lists also take hosts files, adblock rules, dnsmasq lines and Pi-hole regexes; " +
  "`?format=auto|hosts|adblock|plain|dnsmasq|regex`). Streamed; the whole body is applied in one " +
  "transaction or not at all. Domain lists skip lines they cannot use (counted; the first few " +
  "named with line numbers in the answer and the list's `importStatus`); other lists answer " +
  "422 naming the bad line or index.";

function loadList(db: Db, accountId: string, id: string) {
  return loadOwned(db, LISTS, accountId, id);
}

/** Policies (of any state) whose expressions reference `$name` (or its `.allow` twin). */
async function policiesReferencing(db: Db, accountId: string, name: string): Promise<string[]> {
  const rows = await db
    .selectFrom("policies")
    .select(["id", "type", "expression"])
    .where("account_id", "=", accountId)
    .execute();
  const schemes = gatewaySchemes();
  const out: string[] = [];
  for (const r of rows) {
    if (!r.expression.includes(`$${name}`)) continue;
    const c = schemes[r.type as PolicyType].compile(r.expression);
    if (c.ok && c.value.lists.some((l) => l.name === name || l.name === `${name}.allow`))
      out.push(r.id);
  }
  return out;
}

async function insertBatch(db: Db, listId: string, values: string[]): Promise<number> {
  if (values.length === 0) return 0;
  const r = await sql`insert into list_items (list_id, value)
    select ${listId}, unnest(${values}::text[]) on conflict do nothing`.execute(db);
  return Number(r.numAffectedRows ?? 0n);
}

async function deleteBatch(db: Db, listId: string, values: string[]): Promise<number> {
  if (values.length === 0) return 0;
  const r = await sql`delete from list_items where list_id = ${listId}
    and value = any(${values}::text[])`.execute(db);
  return Number(r.numAffectedRows ?? 0n);
}

/** A body item or line a domain list skips: counted, the first few kept with their numbers. */
type Skipped =
  | { kind: "skip" }
  | { kind: "unsupported" }
  | { kind: "invalid"; no: number; text: string; reason: string };

/**
 * Items of a bulk body, normalised. Domain lists skip what they cannot use (counted, never
 * fatal: a subscribed filter list always holds some such lines); other lists answer 422 naming
 * the bad line or index.
 */
async function* bulkItems(
  req: FastifyRequest,
  kind: ListKind,
  format: ItemFormat,
  maxBytes: number,
): AsyncGenerator<string[] | Skipped> {
  const ctype = String(req.headers["content-type"] ?? "")
    .split(";", 1)
    .join("")
    .trim()
    .toLowerCase();
  const body = req.body as AsyncIterable<Uint8Array>;
  if (ctype === "application/json") {
    for await (const { value, index } of readJsonArray(body, maxBytes)) {
      const r = normalizeItem(kind, value);
      if (r.ok) yield [r.value];
      else if (kind === "domain")
        yield { kind: "invalid", no: index + 1, text: String(value), reason: r.reason };
      else throw new GatehouseError("GH_ERR_VALIDATION", `item ${index}: ${r.reason}`, { index });
    }
    return;
  }
  for await (const { line, no } of readLines(body, maxBytes)) {
    const r = parseLine(kind, format, line);
    if (r.kind === "items") yield r.values;
    else if (r.kind === "skip" || r.kind === "unsupported") yield { kind: r.kind };
    else if (kind === "domain") yield { kind: "invalid", no, text: line, reason: r.reason };
    else throw new GatehouseError("GH_ERR_VALIDATION", `line ${no}: ${r.reason}`, { line: no });
  }
}

type BulkMode = "add" | "remove" | "replace";

async function applyBulk(
  app: FastifyInstance,
  req: IdRequest & { readonly query: Static<typeof BulkQuery> },
  mode: BulkMode,
): Promise<BulkItemsResult> {
  const { db, options } = app.gatehouse;
  const p = who(req);
  const { id } = req.params;
  const { format = "auto" } = req.query;
  return db.transaction().execute(async (trx) => {
    const list = await loadList(trx, p.accountId, id);
    checkIfMatch(req, list.version);
    if (mode === "replace") await trx.deleteFrom("list_items").where("list_id", "=", id).execute();
    let changed = 0;
    let skipped = 0;
    let invalid = 0;
    let unsupported = 0;
    const rejected: RejectedLine[] = [];
    let seen = 0;
    let batch: string[] = [];
    const flush = async (): Promise<void> => {
      changed +=
        mode === "remove" ? await deleteBatch(trx, id, batch) : await insertBatch(trx, id, batch);
      batch = [];
    };
    for await (const item of bulkItems(req, list.type, format, options.bulkBodyLimit)) {
      if (!Array.isArray(item)) {
        skipped++;
        if (item.kind === "unsupported") unsupported++;
        else if (item.kind === "invalid") {
          invalid++;
          if (rejected.length < MAX_REJECTED_SHOWN)
            rejected.push({
              line: item.no,
              text: item.text.slice(0, 200),
              reason: item.reason.slice(0, 300),
            });
        }
        continue;
      }
      for (const v of item) batch.push(v);
      seen += item.length;
      if (mode !== "remove" && seen > MAX_LIST_ITEMS * 2)
        throw new GatehouseError("GH_ERR_PAYLOAD_TOO_LARGE", `more than ${MAX_LIST_ITEMS} items`);
      if (batch.length >= BATCH) await flush();
    }
    await flush();
    const count = await trx
      .selectFrom("list_items")
      .select(sql<number>`count(*)::int`.as("n"))
      .where("list_id", "=", id)
      .executeTakeFirstOrThrow();
    if (count.n > MAX_LIST_ITEMS)
      throw new GatehouseError(
        "GH_ERR_VALIDATION",
        `a list holds at most ${MAX_LIST_ITEMS} items`,
        {
          itemCount: count.n,
        },
      );
    const importStatus =
      list.type === "domain" && mode !== "remove"
        ? { at: new Date().toISOString(), invalid, unsupported, rejected }
        : undefined;
    await trx
      .updateTable("lists")
      .set({
        item_count: count.n,
        version: list.version + 1,
        updated_at: new Date(),
        ...(importStatus ? { import_status: JSON.stringify(importStatus) } : {}),
      })
      .where("id", "=", id)
      .execute();
    await audit(trx, {
      accountId: p.accountId,
      actor: actorOf(p),
      resource: "list",
      resourceId: id,
      action: `items.${mode}`,
      before: { itemCount: list.item_count },
      after: { itemCount: count.n, changed, skipped, invalid, unsupported },
    });
    return list.type === "domain"
      ? { changed, skipped, itemCount: count.n, invalid, unsupported, rejected }
      : { changed, skipped, itemCount: count.n };
  });
}

export async function listRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { db } = app.gatehouse;

  app.get(
    "/lists",
    {
      config: { access: "viewer", cacheable: true },
      schema: {
        tags,
        summary: "List lists",
        querystring: ListQuery,
        response: { 200: Page(ListView) },
      },
    },
    async (req) => {
      const q = req.query;
      return pageOwned(db, LISTS, who(req).accountId, q, { type: q.type });
    },
  );

  app.post(
    "/lists",
    {
      config: { access: "editor", autoPublish: true, errors: [409, 422] },
      schema: {
        tags,
        summary: "Create a list (optionally with up to 10,000 items inline)",
        body: ListCreate,
        response: { 201: ListView },
      },
    },
    async (req, reply) => {
      const p = who(req);
      const b = req.body;
      return idempotent(db, req, reply, p.accountId, async () => {
        const values: string[] = [];
        (b.items ?? []).forEach((raw, i) => {
          const r = normalizeItem(b.type, raw);
          if (!r.ok)
            throw new GatehouseError("GH_ERR_VALIDATION", `item ${i}: ${r.reason}`, {
              path: `/items/${i}`,
            });
          values.push(r.value);
        });
        const row = await db.transaction().execute(async (trx) => {
          const id = newId("lst");
          await trx
            .insertInto("lists")
            .values({
              id,
              account_id: p.accountId,
              name: b.name,
              type: b.type,
              description: b.description ?? null,
            })
            .execute();
          const n = await insertBatch(trx, id, values);
          const created = await trx
            .updateTable("lists")
            .set({ item_count: n })
            .where("id", "=", id)
            .returningAll()
            .executeTakeFirstOrThrow();
          await audit(trx, {
            accountId: p.accountId,
            actor: actorOf(p),
            resource: "list",
            resourceId: id,
            action: "create",
            after: listView(created),
          });
          return created;
        });
        reply.header("etag", etagOf(row.version));
        return { status: 201, body: listView(row) };
      });
    },
  );

  app.get(
    "/lists/:id",
    {
      config: { access: "viewer" },
      schema: { tags, summary: "Get a list", params: IdParams, response: { 200: ListView } },
    },
    async (req, reply) => {
      const p = who(req);
      const row = await loadList(db, p.accountId, req.params.id);
      const sub = await db
        .selectFrom("list_subscriptions")
        .select("list_id")
        .where("list_id", "=", row.id)
        .executeTakeFirst();
      reply.header("etag", etagOf(row.version));
      return { ...listView(row), subscribed: sub !== undefined };
    },
  );

  app.get(
    "/lists/:id/policies",
    {
      config: { access: "viewer" },
      schema: {
        tags,
        summary: "The policies whose expressions use the list (enabled or not)",
        params: IdParams,
        response: { 200: ListUsers },
      },
    },
    async (req) => {
      const p = who(req);
      const list = await loadList(db, p.accountId, req.params.id);
      const ids = await policiesReferencing(db, p.accountId, list.name);
      if (ids.length === 0) return { policies: [] };
      const rows = await db
        .selectFrom("policies")
        .select(["id", "name", "type", "enabled", "precedence"])
        .where("account_id", "=", p.accountId)
        .where("id", "in", ids)
        .orderBy("type")
        .orderBy("precedence")
        .execute();
      return { policies: rows.map(({ precedence: _p, ...r }) => r) };
    },
  );

  app.patch(
    "/lists/:id",
    {
      config: { access: "editor", autoPublish: true, errors: [409, 412, 422] },
      schema: {
        tags,
        summary: "Rename or describe a list (409 when renaming a list policies use)",
        params: IdParams,
        body: ListPatch,
        response: { 200: ListView },
      },
    },
    async (req, reply) => {
      const b = req.body;
      const row = await updateAudited(
        db,
        LISTS,
        target(req),
        "update",
        () => ({
          ...(b.name !== undefined ? { name: b.name } : {}),
          ...(b.description !== undefined ? { description: b.description } : {}),
        }),
        async (before, trx) => {
          if (b.name !== undefined && b.name !== before.name)
            await refuseWhileUsed(trx, before.account_id, before.name);
        },
      );
      reply.header("etag", etagOf(row.version));
      return listView(row);
    },
  );

  app.delete(
    "/lists/:id",
    {
      config: { access: "editor", autoPublish: true, errors: [409, 412] },
      schema: {
        tags,
        summary: "Delete a list (409 while policies use it)",
        params: IdParams,
        response: { 204: NoContent },
      },
    },
    async (req, reply) => {
      await deleteAudited(db, LISTS, target(req), (before, trx) =>
        refuseWhileUsed(trx, before.account_id, before.name),
      );
      return reply.status(204).send();
    },
  );

  app.get(
    "/lists/:id/items",
    {
      config: { access: "viewer" },
      schema: {
        tags,
        summary: "Items of a list, in order, paginated",
        params: IdParams,
        querystring: ItemsQuery,
        response: { 200: ListItemsPage },
      },
    },
    async (req) => {
      const p = who(req);
      const { id } = req.params;
      const q = req.query;
      const list = await loadList(db, p.accountId, id);
      const limit = q.limit ?? 100;
      const after = decodeCursor(q.cursor);
      let query = db.selectFrom("list_items").select("value").where("list_id", "=", id);
      if (q.prefix)
        query = query.where("value", ">=", q.prefix).where("value", "<", `${q.prefix}\u{10ffff}`);
      if (after !== undefined) query = query.where("value", ">", after);
      const rows = await query
        .orderBy("value")
        .limit(limit + 1)
        .execute();
      return page(
        rows,
        limit,
        (r) => r.value,
        (r) => (list.type === "int" ? Number(r.value) : r.value),
      );
    },
  );

  // Bulk item endpoints read the raw body stream: their own scope, their own parsers.
  await app.register(async (plain) => {
    const scope = plain.withTypeProvider<TypeBoxTypeProvider>();
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(["application/json", "text/plain"], (_req, payload, done) =>
      done(null, payload),
    );
    const bulk = (summary: string) => ({
      config: { access: "editor" as const, autoPublish: true, errors: [412, 422] },
      schema: {
        tags,
        summary,
        description: BULK_DESCRIPTION,
        params: IdParams,
        querystring: BulkQuery,
        response: { 200: BulkItemsResult },
      },
    });
    scope.post("/lists/:id/items", bulk("Add items in bulk"), (req) => applyBulk(app, req, "add"));
    scope.post("/lists/:id/items/remove", bulk("Remove items in bulk"), (req) =>
      applyBulk(app, req, "remove"),
    );
    scope.put("/lists/:id/items", bulk("Replace all items"), (req) =>
      applyBulk(app, req, "replace"),
    );
  });
}
