// /quick-rules: the query log's one-click Block and Allow. A name goes into one of two managed
// domain lists, `$allowed_by_admin` and `$blocked_by_admin`, each used by a DNS policy that runs
// before every other ("Allowed by admin" first, then "Blocked by admin"); both are created on
// first use. The change is published at once (not after the auto-publish debounce), so the
// next query sees it, and recorded in the audit log; `/quick-rules/remove` undoes it.

import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import {
  GatehouseError,
  QUICK_RULE_ACTIONS,
  type QuickRuleAction,
  QuickRuleResult,
} from "@gatehouse/contract";
import { type Static, Type as T } from "@sinclair/typebox";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { sql } from "kysely";
import { audit } from "../audit.ts";
import { actorOf, type Db } from "../context.ts";
import { newId } from "../ids.ts";
import { normalizeDomain } from "../lists/list-items.ts";
import { policyView } from "../views.ts";
import { who } from "./common.ts";
import { publishNow } from "./publish-now.ts";

interface Managed {
  readonly list: string;
  readonly policy: string;
  readonly description: string;
}

/** The managed list and policy of each action. */
const MANAGED: Readonly<Record<QuickRuleAction, Managed>> = {
  allow: {
    list: "allowed_by_admin",
    policy: "Allowed by admin",
    description: "Names allowed from the query log (Allow); they and their subdomains.",
  },
  block: {
    list: "blocked_by_admin",
    policy: "Blocked by admin",
    description: "Names blocked from the query log (Block); they and their subdomains.",
  },
};
const OTHER: Readonly<Record<QuickRuleAction, QuickRuleAction>> = {
  allow: "block",
  block: "allow",
};
/** Room made below the lowest precedence when a managed policy has none left under it. */
const SHIFT = 1000;

const Body = T.Object(
  {
    domain: T.String({ minLength: 1, maxLength: 1024 }),
    action: T.Union(QUICK_RULE_ACTIONS.map((a) => T.Literal(a))),
  },
  { additionalProperties: false },
);

const tags = ["quick rules"];

interface Ctx {
  readonly trx: Db;
  readonly accountId: string;
  readonly actor: string;
}

/** The managed list of `action`, created (empty) when missing. */
async function ensureList(c: Ctx, action: QuickRuleAction): Promise<{ id: string }> {
  const m = MANAGED[action];
  const found = await c.trx
    .selectFrom("lists")
    .select(["id", "type"])
    .where("account_id", "=", c.accountId)
    .where("name", "=", m.list)
    .executeTakeFirst();
  if (found) {
    if (found.type !== "domain")
      throw new GatehouseError(
        "GH_ERR_CONFLICT",
        `$${m.list} exists as a list of type ${found.type}; rename it to use Block and Allow`,
      );
    return found;
  }
  const row = await c.trx
    .insertInto("lists")
    .values({
      id: newId("lst"),
      account_id: c.accountId,
      name: m.list,
      type: "domain",
      description: m.description,
      item_count: 0,
    })
    .returning(["id", "name", "type", "description", "item_count"])
    .executeTakeFirstOrThrow();
  await audit(c.trx, {
    accountId: c.accountId,
    actor: c.actor,
    resource: "list",
    resourceId: row.id,
    action: "create",
    after: { id: row.id, name: row.name, type: row.type, description: row.description },
  });
  return row;
}

/**
 * Make every DNS policy's precedence at least `SHIFT` higher (one audit entry), so a managed
 * policy fits below them. Done in two statements through negative values: a unique constraint
 * that is not deferrable is checked row by row, so a plain `+ SHIFT` could collide midway.
 */
async function shiftUp(c: Ctx): Promise<void> {
  const base = sql`account_id = ${c.accountId} and type = 'dns'`;
  await sql`update policies set precedence = -precedence - 1 where ${base}`.execute(c.trx);
  await sql`update policies set precedence = -precedence - 1 + ${SHIFT},
    version = version + 1, updated_at = now() where ${base}`.execute(c.trx);
  await audit(c.trx, {
    accountId: c.accountId,
    actor: c.actor,
    resource: "policy",
    resourceId: null,
    action: "reorder",
    after: { dnsPrecedenceShiftedBy: SHIFT, why: "room for the Block/Allow policies" },
  });
}

/**
 * The managed policy of `action`, created when missing: "Allowed by admin" below every DNS
 * policy, "Blocked by admin" below every one but that (first match wins, lower runs first).
 */
async function ensurePolicy(c: Ctx, action: QuickRuleAction): Promise<{ id: string }> {
  const m = MANAGED[action];
  const existing = await c.trx
    .selectFrom("policies")
    .select("id")
    .where("account_id", "=", c.accountId)
    .where("type", "=", "dns")
    .where("name", "=", m.policy)
    .executeTakeFirst();
  if (existing) return existing;
  const lowest = async () => {
    let q = c.trx
      .selectFrom("policies")
      .select(sql<number | null>`min(precedence)`.as("m"))
      .where("account_id", "=", c.accountId)
      .where("type", "=", "dns");
    // "Blocked by admin" goes under everything but "Allowed by admin".
    if (action === "block") q = q.where("name", "<>", MANAGED.allow.policy);
    return (await q.executeTakeFirst())?.m ?? null;
  };
  let min = await lowest();
  if (min !== null && min < 1) {
    await shiftUp(c);
    min = await lowest();
  }
  let precedence = min === null ? SHIFT : min - 1;
  if (action === "block") {
    // Right under "Allowed by admin" when that one sits just below.
    const taken = await c.trx
      .selectFrom("policies")
      .select("id")
      .where("account_id", "=", c.accountId)
      .where("type", "=", "dns")
      .where("precedence", "=", precedence)
      .executeTakeFirst();
    if (taken) {
      await shiftUp(c);
      precedence = ((await lowest()) ?? SHIFT) - 1;
    }
  }
  const row = await c.trx
    .insertInto("policies")
    .values({
      id: newId("pol"),
      account_id: c.accountId,
      type: "dns",
      name: m.policy,
      description: `Managed by the query log's ${action === "block" ? "Block" : "Allow"} button: $${m.list}.`,
      enabled: true,
      precedence,
      expression: `any(dns.domains[*] in $${m.list})`,
      action,
      settings: null,
      schedule: null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  await audit(c.trx, {
    accountId: c.accountId,
    actor: c.actor,
    resource: "policy",
    resourceId: row.id,
    action: "create",
    after: policyView(row),
  });
  return row;
}

/** Add or remove one item; true when the list changed (its count and version follow). */
async function setItem(c: Ctx, listId: string, domain: string, add: boolean): Promise<boolean> {
  const r = add
    ? await sql`insert into list_items (list_id, value) values (${listId}, ${domain})
        on conflict do nothing`.execute(c.trx)
    : await sql`delete from list_items where list_id = ${listId} and value = ${domain}`.execute(
        c.trx,
      );
  if (Number(r.numAffectedRows ?? 0n) === 0) return false;
  await sql`update lists set item_count = item_count + ${add ? 1 : -1},
    version = version + 1, updated_at = now() where id = ${listId}`.execute(c.trx);
  return true;
}

/** The list's id when it exists (remove never creates anything). */
async function listId(c: Ctx, action: QuickRuleAction): Promise<string | undefined> {
  const r = await c.trx
    .selectFrom("lists")
    .select("id")
    .where("account_id", "=", c.accountId)
    .where("name", "=", MANAGED[action].list)
    .where("type", "=", "domain")
    .executeTakeFirst();
  return r?.id;
}

export async function quickRuleRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { db, publisher } = app.gatehouse;

  const domainOf = (raw: string): string => {
    const d = normalizeDomain(raw);
    if (!d.ok) throw new GatehouseError("GH_ERR_VALIDATION", d.reason, { path: "/domain" });
    return d.value;
  };

  /** A route's options: editors may call it; it answers a QuickRuleResult. */
  const options = (summary: string, description: string, errors: number[]) => ({
    config: { access: "editor" as const, errors },
    schema: { tags, summary, description, body: Body, response: { 200: QuickRuleResult } },
  });
  type Change = Omit<QuickRuleResult, "publishedVersion" | "publishError">;
  /** The handler: `fn` changes the lists in one transaction, then the account is published. */
  const handler =
    (fn: (c: Ctx, domain: string, action: QuickRuleAction) => Promise<Change>) =>
    async (req: FastifyRequest & { body: Static<typeof Body> }) => {
      const p = who(req);
      const c0 = { accountId: p.accountId, actor: actorOf(p) };
      const domain = domainOf(req.body.domain);
      const done = await db
        .transaction()
        .execute((trx) => fn({ ...c0, trx }, domain, req.body.action));
      return { ...done, ...(await publishNow(publisher, p.accountId, c0.actor)) };
    };

  app.post(
    "/quick-rules",
    options(
      "Block or allow a name (and its subdomains) now",
      "Adds the name to `$blocked_by_admin` or `$allowed_by_admin` (taking it out of the other), " +
        'creating the list and its DNS policy ("Blocked by admin" / "Allowed by admin", ahead of ' +
        "every other DNS policy) on first use, and publishes at once. Undo with /quick-rules/remove.",
      [409, 422],
    ),
    handler(async (c, domain, action) => {
      const list = await ensureList(c, action);
      const policy = await ensurePolicy(c, action);
      const changed = await setItem(c, list.id, domain, true);
      const other = await listId(c, OTHER[action]);
      const removed = other !== undefined && (await setItem(c, other, domain, false));
      if (changed || removed)
        await audit(c.trx, {
          accountId: c.accountId,
          actor: c.actor,
          resource: "list",
          resourceId: list.id,
          action: `quick.${action}`,
          after: {
            domain,
            list: MANAGED[action].list,
            ...(removed ? { removedFrom: MANAGED[OTHER[action]].list } : {}),
          },
        });
      return {
        domain,
        action,
        changed,
        removedFrom: removed ? OTHER[action] : null,
        listId: list.id,
        policyId: policy.id,
      };
    }),
  );

  app.post(
    "/quick-rules/remove",
    options(
      "Undo a Block or Allow: take the name out of the managed list",
      "Removes the name from `$blocked_by_admin` or `$allowed_by_admin` and publishes at once. 404 when that list does not exist.",
      [404, 422],
    ),
    handler(async (c, domain, action) => {
      const id = await listId(c, action);
      if (id === undefined)
        throw new GatehouseError("GH_ERR_NOT_FOUND", `no list $${MANAGED[action].list}`);
      const policy = await c.trx
        .selectFrom("policies")
        .select("id")
        .where("account_id", "=", c.accountId)
        .where("type", "=", "dns")
        .where("name", "=", MANAGED[action].policy)
        .executeTakeFirst();
      const changed = await setItem(c, id, domain, false);
      if (changed)
        await audit(c.trx, {
          accountId: c.accountId,
          actor: c.actor,
          resource: "list",
          resourceId: id,
          action: `quick.un${action}`,
          after: { domain, list: MANAGED[action].list },
        });
      return {
        domain,
        action,
        changed,
        removedFrom: null,
        listId: id,
        policyId: policy?.id ?? null,
      };
    }),
  );
}
