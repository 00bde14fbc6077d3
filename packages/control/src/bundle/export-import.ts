// The whole account configuration as one YAML document, so it can live in Git: GET exports,
// PUT imports. An import is validated whole (shape, then every expression and list reference
// through checkBundle, as a publish would) before anything changes, then replaces the account's
// policies, lists, locations, users, devices and settings in one transaction.
//
// Proxy credentials round-trip as their scrypt hashes (users' and devices' `credentialHash`):
// the password itself is shown once and never stored, but the hash is all an edge needs, so an
// export imported elsewhere keeps every device and user able to authenticate. A hash is not a
// secret the way a password is, yet it allows offline guessing: it goes into the document and
// the bundle, never into the audit log or a log line. A document without a `devices` key (older
// exports) leaves the account's devices as they are; `devices: []` removes them.

import { randomBytes } from "node:crypto";
import {
  BlockPageSettings,
  type BundleProblem,
  checkBundle,
  GatehouseError,
  Identities,
  LIST_NAME_PATTERN,
  LIST_TYPES,
  LocalZone,
  Location,
  Policy,
  PolicyTests,
  ProxySettings,
  ResolverSettings,
  RolloutPlan,
} from "@gatehouse/contract";
import { type Static, Type as T } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { sql } from "kysely";
import {
  ACCOUNT_DOCUMENTS,
  readAccountDocument,
  removeAccountDocument,
  replaceAccountDocument,
} from "../account-documents.ts";
import { audit } from "../audit.ts";
import type { Db } from "../context.ts";
import { newId } from "../ids.ts";
import { normalizeIp, normalizeItem } from "../lists/list-items.ts";
import { checkPolicyShape } from "../routes/policy-validation.ts";
import { SubscriptionBody } from "../routes/subscriptions.ts";
import { yaml } from "../yaml.ts";
import { type BundleContent, compileContent } from "./compile.ts";
import { storedPolicyTests } from "./policy-tests.ts";

const EXPORT_KIND = "gatehouse/account-config";

const Id = T.String({ minLength: 1, maxLength: 128, pattern: "^[A-Za-z0-9_.:-]+$" });
const CredentialHash = Identities.properties.devices.items.properties.credentialHash;
/** The Basic-auth user-id of a device: no colon (RFC 7617 §2), as the API requires. */
const DeviceName = T.String({ minLength: 1, maxLength: 200, pattern: "^[^:\\s]+$" });
const opt = <S extends Parameters<typeof T.Optional>[0]>(s: S) => T.Optional(s);

const ConfigDocument = T.Object(
  {
    kind: T.Literal(EXPORT_KIND),
    version: T.Literal(1),
    settings: opt(
      T.Object({
        allowUnknownClients: T.Optional(T.Boolean()),
        proxy: T.Optional(ProxySettings),
        blockPage: T.Optional(BlockPageSettings),
      }),
    ),
    resolver: opt(ResolverSettings),
    locations: opt(
      T.Array(
        T.Composite([
          T.Omit(Location, ["id", "dohToken"]),
          T.Object({ id: T.Optional(Id), dohToken: T.Optional(Location.properties.dohToken) }),
        ]),
        { maxItems: 10000 },
      ),
    ),
    lists: opt(
      T.Array(
        T.Object({
          id: T.Optional(Id),
          name: T.String({ minLength: 1, maxLength: 128, pattern: LIST_NAME_PATTERN }),
          type: T.Union(LIST_TYPES.map((t) => T.Literal(t))),
          description: T.Optional(T.String({ maxLength: 2000 })),
          items: T.Optional(
            T.Array(T.Union([T.String({ maxLength: 1024 }), T.Integer()]), { maxItems: 1_000_000 }),
          ),
          /**
           * The URL the list follows. Without `items` the list is included by reference: an
           * import keeps the items the account's list of that id (or name) has, else the list
           * starts empty and is fetched within a minute.
           */
          subscription: T.Optional(SubscriptionBody),
        }),
        { maxItems: 10000 },
      ),
    ),
    /** Local zones; absent in an import: the account's zones stay as they are. */
    localZones: opt(
      T.Array(T.Composite([T.Omit(LocalZone, ["id"]), T.Object({ id: T.Optional(Id) })]), {
        maxItems: 1000,
      }),
    ),
    policies: opt(
      T.Array(T.Composite([T.Omit(Policy, ["id"]), T.Object({ id: T.Optional(Id) })]), {
        maxItems: 100000,
      }),
    ),
    users: opt(
      T.Array(
        T.Object({
          id: T.Optional(Id),
          email: T.String({ minLength: 3, maxLength: 320 }),
          name: T.Optional(T.String({ minLength: 1, maxLength: 200 })),
          groups: T.Optional(T.Array(T.String({ maxLength: 200 }), { maxItems: 1000 })),
          credentialHash: T.Optional(CredentialHash),
        }),
        { maxItems: 1_000_000 },
      ),
    ),
    devices: opt(
      T.Array(
        T.Object(
          {
            id: T.Optional(Id),
            name: DeviceName,
            userId: T.Optional(Id),
            credentialHash: CredentialHash,
          },
          { additionalProperties: false },
        ),
        { maxItems: 1_000_000 },
      ),
    ),
    /** Policy tests (cases and what they expect); absent in an import: the stored ones stay. */
    tests: opt(PolicyTests),
    /** The staged-rollout plan; null: none (every edge at once); absent: the stored one stays. */
    rolloutPlan: opt(T.Union([RolloutPlan, T.Null()])),
  },
  { additionalProperties: false },
);
export type ConfigDocument = Static<typeof ConfigDocument>;
const documentChecker = TypeCompiler.Compile(ConfigDocument);

export async function exportDocument(db: Db, accountId: string): Promise<ConfigDocument> {
  const c = await compileContent(db, accountId);
  const subs = new Map(
    (
      await db
        .selectFrom("list_subscriptions")
        .select(["list_id", "url", "format", "refresh_seconds", "max_bytes"])
        .where("account_id", "=", accountId)
        .execute()
    ).map((r) => [r.list_id, r]),
  );
  const policies = await db
    .selectFrom("policies")
    .selectAll()
    .where("account_id", "=", accountId)
    .orderBy("type")
    .orderBy("precedence")
    .execute();
  return {
    kind: EXPORT_KIND,
    version: 1,
    settings: {
      allowUnknownClients: c.allowUnknownClients ?? false,
      ...(c.proxy ? { proxy: c.proxy } : {}),
      ...(c.blockPage ? { blockPage: c.blockPage } : {}),
    },
    resolver: c.resolver,
    locations: c.locations,
    ...(c.localZones ? { localZones: c.localZones } : {}),
    // A list that follows a URL is exported by reference: its subscription, not its items.
    lists: c.lists.map((l) => {
      const sub = subs.get(l.id);
      if (!sub) return l;
      const { items: _items, ...rest } = l;
      return {
        ...rest,
        subscription: {
          url: sub.url,
          refreshSeconds: sub.refresh_seconds,
          format: sub.format as Static<typeof SubscriptionBody>["format"],
          maxBytes: sub.max_bytes,
        },
      };
    }),
    // Disabled policies too: the export is the whole configuration, not what is published.
    policies: policies.map((r) => ({
      id: r.id,
      name: r.name,
      ...(r.description !== null ? { description: r.description } : {}),
      type: r.type,
      enabled: r.enabled,
      precedence: r.precedence,
      expression: r.expression,
      action: r.action as Policy["action"],
      ...(r.settings ? { settings: r.settings as NonNullable<Policy["settings"]> } : {}),
      ...(r.schedule ? { schedule: r.schedule as NonNullable<Policy["schedule"]> } : {}),
    })),
    users: c.identities?.users ?? [],
    devices: c.identities?.devices ?? [],
    tests: await storedPolicyTests(db, accountId),
    rolloutPlan:
      ((await readAccountDocument(db, ACCOUNT_DOCUMENTS.rolloutPlan, accountId)) as
        | RolloutPlan
        | undefined) ?? null,
  };
}

export function toYaml(doc: ConfigDocument): string {
  return yaml().stringify(doc, { lineWidth: 0 });
}

/** Parse YAML (or JSON, a subset) into a checked document; 400 for syntax, 422 for content. */
export function parseDocument(text: string): ConfigDocument {
  let value: unknown;
  try {
    // maxAliasCount bounds "billion laughs" alias expansion.
    value = yaml().parse(text, { maxAliasCount: 100, prettyErrors: false, uniqueKeys: true });
  } catch (err) {
    throw new GatehouseError(
      "GH_ERR_BAD_REQUEST",
      `malformed YAML: ${(err as Error).message.split("\n")[0]}`,
    );
  }
  if (!documentChecker.Check(value)) {
    const errors = [...documentChecker.Errors(value)]
      .slice(0, 20)
      .map((e) => ({ path: e.path || "/", message: e.message }));
    throw new GatehouseError(
      "GH_ERR_VALIDATION",
      `not a ${EXPORT_KIND} document: ${errors[0]?.path} ${errors[0]?.message}`,
      { problems: errors },
    );
  }
  return value as ConfigDocument;
}

/** An element of one of the document's arrays, with the id that prepareImport gives it. */
type Identified<K extends "policies" | "users" | "devices" | "localZones"> = NonNullable<
  ConfigDocument[K]
>[number] & { id: string };

interface Prepared {
  readonly doc: Omit<ConfigDocument, "policies" | "users" | "devices" | "localZones"> & {
    policies: Identified<"policies">[];
    users: Identified<"users">[];
    devices?: Identified<"devices">[];
    localZones?: Identified<"localZones">[];
  };
  /** The document as a bundle would carry it (what policy tests run against). */
  readonly candidate: Pick<BundleContent, "policies" | "lists" | "locations" | "identities"> &
    Partial<Pick<BundleContent, "localZones">>;
  readonly lists: {
    id: string;
    name: string;
    type: (typeof LIST_TYPES)[number];
    description: string | null;
    items: string[];
    subscription: Static<typeof SubscriptionBody> | undefined;
    /** Followed by URL and without items in the document: the stored items stay. */
    byReference: boolean;
  }[];
  readonly locations: {
    id: string;
    networks: string[];
    dohToken: string;
    l: NonNullable<ConfigDocument["locations"]>[number];
  }[];
}

function fail(problems: BundleProblem[] | { path: string; message: string }[]): never {
  const [first] = problems;
  throw new GatehouseError(
    "GH_ERR_VALIDATION",
    `the import is invalid: ${first ? `${first.path}: ${first.message}` : "(no problem named)"}`,
    { problems: problems.slice(0, 50) },
  );
}

/** Everything checkable without the database: normalised items, then checkBundle. */
export function prepareImport(doc: ConfigDocument, accountId: string): Prepared {
  const problems: { path: string; message: string }[] = [];
  const lists = (doc.lists ?? []).map((l, i) => {
    const items: string[] = [];
    (l.items ?? []).forEach((raw, j) => {
      const r = normalizeItem(l.type, raw);
      if (r.ok) items.push(r.value);
      else if (problems.length < 50)
        problems.push({ path: `/lists/${i}/items/${j}`, message: r.reason });
    });
    if (l.subscription !== undefined && !URL.canParse(l.subscription.url))
      problems.push({ path: `/lists/${i}/subscription/url`, message: "not a URL" });
    return {
      id: l.id ?? newId("lst"),
      name: l.name,
      type: l.type,
      description: l.description ?? null,
      items: [...new Set(items)],
      subscription: l.subscription,
      byReference: l.subscription !== undefined && l.items === undefined,
    };
  });
  const locations = (doc.locations ?? []).map((l, i) => {
    const networks = l.networks.map((n, j) => {
      const r = normalizeIp(n);
      if (!r.ok) problems.push({ path: `/locations/${i}/networks/${j}`, message: r.reason });
      return r.ok ? r.value : n;
    });
    return {
      id: l.id ?? newId("loc"),
      networks,
      dohToken: l.dohToken ?? randomBytes(16).toString("base64url"),
      l,
    };
  });
  (doc.policies ?? []).forEach((p, i) => {
    try {
      checkPolicyShape(p);
    } catch (err) {
      problems.push({
        path: `/policies/${i}${(err as GatehouseError & { details?: { path?: string } }).details?.path ?? ""}`,
        message: (err as Error).message,
      });
    }
  });
  const users = (doc.users ?? []).map((u) => ({ ...u, id: u.id ?? newId("usr") }));
  const devices = (doc.devices ?? []).map((d) => ({ ...d, id: d.id ?? newId("dev") }));
  checkIdentities(users, devices, problems);
  if (problems.length) fail(problems);
  const policies = (doc.policies ?? []).map((p) => ({ ...p, id: p.id ?? newId("pol") }));
  const localZones = doc.localZones?.map((z) => ({
    ...z,
    id: z.id ?? newId("lzn"),
    name: z.name.toLowerCase().replace(/\.$/, ""),
  }));
  const candidate = {
    schemaVersion: 1,
    version: 0,
    accountId,
    allowUnknownClients: doc.settings?.allowUnknownClients ?? false,
    resolver: doc.resolver ?? { upstreams: [] },
    locations: locations.map((x) => ({
      ...x.l,
      id: x.id,
      networks: x.networks,
      dohToken: x.dohToken,
    })),
    lists: lists.map((l) => ({
      id: l.id,
      name: l.name,
      type: l.type,
      items: l.type === "int" ? l.items.map(Number) : l.items,
    })),
    // Disabled policies are checked too: an import must not store what cannot be enabled.
    policies,
    identities: { users, devices },
    ...(localZones ? { localZones } : {}),
  };
  const bundleProblems = checkBundle(candidate);
  if (bundleProblems.length) fail(bundleProblems);
  // The arrays without ids are replaced by those with: none of the originals stays.
  const { policies: _p, users: _u, devices: _d, localZones: _z, ...rest } = doc;
  return {
    doc: {
      ...rest,
      policies,
      users,
      ...(doc.devices !== undefined ? { devices } : {}),
      ...(localZones ? { localZones } : {}),
    },
    candidate,
    lists,
    locations,
  };
}

/**
 * What the database's unique constraints and foreign keys would refuse mid-transaction, found
 * up front so the answer is a 422 with a path. Names and emails are compared lower-cased: the
 * edge looks Basic-auth user-ids up case-insensitively, so "Ann" and "ann" would be ambiguous.
 */
function checkIdentities(
  users: readonly { id: string; email: string }[],
  devices: readonly { id: string; name: string; userId?: string }[],
  problems: { path: string; message: string }[],
): void {
  const userIds = new Set<string>();
  const emails = new Set<string>();
  users.forEach((u, i) => {
    if (userIds.has(u.id)) problems.push({ path: `/users/${i}/id`, message: "duplicate user id" });
    userIds.add(u.id);
    const email = u.email.toLowerCase();
    if (emails.has(email))
      problems.push({ path: `/users/${i}/email`, message: `duplicate email "${email}"` });
    emails.add(email);
  });
  const deviceIds = new Set<string>();
  const names = new Set<string>();
  devices.forEach((d, i) => {
    if (deviceIds.has(d.id))
      problems.push({ path: `/devices/${i}/id`, message: "duplicate device id" });
    deviceIds.add(d.id);
    const name = d.name.toLowerCase();
    if (names.has(name))
      problems.push({ path: `/devices/${i}/name`, message: `duplicate device name "${d.name}"` });
    names.add(name);
    if (d.userId !== undefined && !userIds.has(d.userId))
      problems.push({
        path: `/devices/${i}/userId`,
        message: `no user with id "${d.userId}" in the document`,
      });
  });
}

/** Replace the account's configuration with the document, in one transaction. */
export async function applyImport(
  db: Db,
  accountId: string,
  actor: string,
  prepared: Prepared,
): Promise<Record<string, number>> {
  const { doc } = prepared;
  const BATCH = 10_000;
  return db.transaction().execute(async (trx) => {
    const before = await trx
      .selectFrom("policies")
      .select(sql<number>`count(*)::int`.as("n"))
      .where("account_id", "=", accountId)
      .executeTakeFirstOrThrow();
    await trx.deleteFrom("policies").where("account_id", "=", accountId).execute();
    // Lists included by reference keep their rows and items when the account has them (same
    // id and type); every other list is replaced.
    const existing = await trx
      .selectFrom("lists")
      .select(["id", "type"])
      .where("account_id", "=", accountId)
      .execute();
    const typeOf = new Map(existing.map((l) => [l.id, l.type]));
    const kept = new Set(
      prepared.lists.filter((l) => l.byReference && typeOf.get(l.id) === l.type).map((l) => l.id),
    );
    await trx
      .deleteFrom("lists")
      .where("account_id", "=", accountId)
      .$if(kept.size > 0, (q) => q.where("id", "not in", [...kept]))
      .execute();
    await trx.deleteFrom("locations").where("account_id", "=", accountId).execute();
    // Devices the document does not describe stay; remember whom they belong to, because
    // deleting the users below unassigns them (on delete set null).
    const keptDevices =
      doc.devices === undefined
        ? await trx
            .selectFrom("identity_devices")
            .select(["id", "user_id"])
            .where("account_id", "=", accountId)
            .where("user_id", "is not", null)
            .execute()
        : [];
    if (doc.devices !== undefined)
      await trx.deleteFrom("identity_devices").where("account_id", "=", accountId).execute();
    await trx.deleteFrom("identity_users").where("account_id", "=", accountId).execute();
    const s = doc.settings ?? {};
    await trx
      .insertInto("account_settings")
      .values({
        account_id: accountId,
        resolver: JSON.stringify(doc.resolver ?? { upstreams: [] }),
        allow_unknown_clients: s.allowUnknownClients ?? false,
        proxy: s.proxy ? JSON.stringify(s.proxy) : null,
        block_page: s.blockPage ? JSON.stringify(s.blockPage) : null,
      })
      .onConflict((oc) =>
        oc.column("account_id").doUpdateSet({
          resolver: JSON.stringify(doc.resolver ?? { upstreams: [] }),
          allow_unknown_clients: s.allowUnknownClients ?? false,
          proxy: s.proxy ? JSON.stringify(s.proxy) : null,
          block_page: s.blockPage ? JSON.stringify(s.blockPage) : null,
          version: sql`account_settings.version + 1`,
          updated_at: new Date(),
        }),
      )
      .execute();
    // Kept lists are renamed after the others are gone, so a swap of names cannot collide.
    for (const l of prepared.lists) {
      if (!kept.has(l.id)) continue;
      await trx
        .updateTable("lists")
        .set({ name: l.name, description: l.description, updated_at: new Date() })
        .where("id", "=", l.id)
        .execute();
    }
    for (const l of prepared.lists) {
      if (kept.has(l.id)) {
        await syncSubscription(trx, accountId, l.id, l.subscription);
        continue;
      }
      await trx
        .insertInto("lists")
        .values({
          id: l.id,
          account_id: accountId,
          name: l.name,
          type: l.type,
          description: l.description,
          item_count: l.items.length,
        })
        .execute();
      for (let i = 0; i < l.items.length; i += BATCH) {
        const chunk = l.items.slice(i, i + BATCH);
        await sql`insert into list_items (list_id, value) select ${l.id}, unnest(${chunk}::text[]) on conflict do nothing`.execute(
          trx,
        );
      }
      await syncSubscription(trx, accountId, l.id, l.subscription);
    }
    if (doc.localZones !== undefined) {
      await trx.deleteFrom("local_zones").where("account_id", "=", accountId).execute();
      for (const z of doc.localZones)
        await trx
          .insertInto("local_zones")
          .values({
            id: z.id,
            account_id: accountId,
            name: z.name,
            zone: z.zone,
            locations: z.locations ? JSON.stringify(z.locations) : null,
            transfer_to: z.transferTo ? JSON.stringify(z.transferTo) : null,
          })
          .execute();
    }
    for (const x of prepared.locations) {
      await trx
        .insertInto("locations")
        .values({
          id: x.id,
          account_id: accountId,
          name: x.l.name,
          networks: JSON.stringify(x.networks),
          doh_token: x.dohToken,
          dot_label: x.l.dotLabel ?? null,
          require_proxy_auth: x.l.requireProxyAuth ?? false,
          tls_inspection: x.l.tlsInspection ?? false,
          block_page: x.l.blockPage ? JSON.stringify(x.l.blockPage) : null,
          dnssec_validate: x.l.dnssec?.validate ?? true,
        })
        .execute();
    }
    for (const p of doc.policies ?? []) {
      await trx
        .insertInto("policies")
        .values({
          id: p.id,
          account_id: accountId,
          type: p.type,
          name: p.name,
          description: p.description ?? null,
          enabled: p.enabled,
          precedence: p.precedence,
          expression: p.expression,
          action: p.action,
          settings: p.settings ? JSON.stringify(p.settings) : null,
          schedule: p.schedule ? JSON.stringify(p.schedule) : null,
        })
        .execute();
    }
    for (const u of doc.users ?? []) {
      await trx
        .insertInto("identity_users")
        .values({
          id: u.id ?? newId("usr"),
          account_id: accountId,
          email: u.email.toLowerCase(),
          name: u.name ?? null,
          groups: JSON.stringify(u.groups ?? []),
          credential_hash: u.credentialHash ?? null,
        })
        .execute();
    }
    if (doc.tests !== undefined)
      await replaceAccountDocument(trx, ACCOUNT_DOCUMENTS.policyTests, accountId, actor, doc.tests);
    for (const d of doc.devices ?? []) {
      await trx
        .insertInto("identity_devices")
        .values({
          id: d.id,
          account_id: accountId,
          name: d.name,
          user_id: d.userId ?? null,
          credential_hash: d.credentialHash,
        })
        .execute();
    }
    const importedUsers = new Set((doc.users ?? []).map((u) => u.id));
    for (const d of keptDevices) {
      if (d.user_id === null || !importedUsers.has(d.user_id)) continue;
      await trx
        .updateTable("identity_devices")
        .set({ user_id: d.user_id })
        .where("id", "=", d.id)
        .execute();
    }
    if (doc.rolloutPlan === null)
      await removeAccountDocument(trx, ACCOUNT_DOCUMENTS.rolloutPlan, accountId);
    else if (doc.rolloutPlan !== undefined)
      await replaceAccountDocument(
        trx,
        ACCOUNT_DOCUMENTS.rolloutPlan,
        accountId,
        actor,
        doc.rolloutPlan,
      );
    const counts = {
      policies: doc.policies?.length ?? 0,
      lists: prepared.lists.length,
      listItems: prepared.lists.reduce((n, l) => n + l.items.length, 0),
      locations: prepared.locations.length,
      ...(doc.localZones !== undefined ? { localZones: doc.localZones.length } : {}),
      users: doc.users?.length ?? 0,
      ...(doc.devices !== undefined ? { devices: doc.devices.length } : {}),
      ...(doc.tests !== undefined ? { tests: doc.tests.length } : {}),
    };
    await audit(trx, {
      accountId,
      actor,
      resource: "config",
      resourceId: null,
      action: "import",
      before: { policies: before.n },
      after: counts,
    });
    return counts;
  });
}

/**
 * Make a list follow the document's subscription: a new or changed URL (or format) is fetched
 * within a minute; an unchanged one keeps its state (ETag, last fetch); none removes it.
 */
async function syncSubscription(
  trx: Db,
  accountId: string,
  listId: string,
  sub: Static<typeof SubscriptionBody> | undefined,
): Promise<void> {
  if (sub === undefined) {
    await trx.deleteFrom("list_subscriptions").where("list_id", "=", listId).execute();
    return;
  }
  const values = {
    url: sub.url,
    format: sub.format ?? "auto",
    refresh_seconds: sub.refreshSeconds ?? 86400,
    max_bytes: sub.maxBytes ?? 64 * 1024 * 1024,
  };
  const before = await trx
    .selectFrom("list_subscriptions")
    .select(["url", "format"])
    .where("list_id", "=", listId)
    .executeTakeFirst();
  if (before === undefined) {
    await trx
      .insertInto("list_subscriptions")
      .values({ list_id: listId, account_id: accountId, ...values })
      .execute();
    return;
  }
  const refetch = before.url !== values.url || before.format !== values.format;
  await trx
    .updateTable("list_subscriptions")
    .set({
      ...values,
      ...(refetch ? { etag: null, next_fetch_at: new Date() } : {}),
      updated_at: new Date(),
    })
    .where("list_id", "=", listId)
    .execute();
}
