// /identities/users and /identities/devices: who proxy authentication and identity.* fields
// know. A device's credential, and a user's proxy password, is generated, shown once, and
// stored as a scrypt hash; the edge checks Proxy-Authorization: Basic against it (RFC 7617),
// with the device name or the user's email as the user-id.

import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import {
  DeviceView,
  DeviceWithCredential,
  DeviceWithDohToken,
  GatehouseError,
  Page,
  UserView,
  UserWithCredential,
} from "@gatehouse/contract";
import {
  dohTokenDigest,
  generateSecret,
  hashSecret,
  newDohToken,
} from "@gatehouse/contract/secrets";
import { Type as T } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { audit } from "../audit.ts";
import { issueSecret } from "../auth/tokens.ts";
import { actorOf, type Db } from "../context.ts";
import { checkIfMatch, etagOf, idempotent, PageQuery } from "../http/conventions.ts";
import { NoContent } from "../http/responses.ts";
import { newId } from "../ids.ts";
import { deviceView, userView } from "../views.ts";
import { type AuditedResource, deleteAudited, target, updateAudited } from "./audited-change.ts";
import { IdParams, who } from "./common.ts";
import { loadOwned, pageOwned } from "./owned-rows.ts";

const Email = T.String({ minLength: 3, maxLength: 320, pattern: "^[^\\s@]+@[^\\s@]+$" });
const Name = T.String({ minLength: 1, maxLength: 200 });
const Groups = T.Array(T.String({ minLength: 1, maxLength: 200 }), { maxItems: 1000 });
const Id = T.String({ minLength: 1, maxLength: 128, pattern: "^[A-Za-z0-9_.:-]+$" });

const UserCreate = T.Object(
  { email: Email, name: T.Optional(Name), groups: T.Optional(Groups) },
  { additionalProperties: false },
);
const UserPatch = T.Object(
  {
    email: T.Optional(Email),
    name: T.Optional(T.Union([Name, T.Null()])),
    groups: T.Optional(Groups),
  },
  { additionalProperties: false, minProperties: 1 },
);

/** Device names are the Basic-auth user name: no colon (RFC 7617 §2). */
const DeviceName = T.String({ minLength: 1, maxLength: 200, pattern: "^[^:\\s]+$" });
const DeviceCreate = T.Object(
  {
    name: DeviceName,
    userId: T.Optional(Id),
    /** The location its DoH token's queries belong to. */
    locationId: T.Optional(Id),
    /** Also issue a DoH token (needs locationId); it is in this answer only. */
    dohToken: T.Optional(T.Boolean()),
  },
  { additionalProperties: false },
);
const DevicePatch = T.Object(
  {
    name: T.Optional(DeviceName),
    userId: T.Optional(T.Union([Id, T.Null()])),
    locationId: T.Optional(T.Union([Id, T.Null()])),
  },
  { additionalProperties: false, minProperties: 1 },
);
const DohTokenIssue = T.Object({ locationId: T.Optional(Id) }, { additionalProperties: false });

/** Prefix of user proxy passwords: recognisable in a leak scan, not parsed by anything. */
const USER_CREDENTIAL_PREFIX = "ghu";

const tags = ["identities"];
const USERS: AuditedResource<"identity_users", ReturnType<typeof userView>> = {
  table: "identity_users",
  resource: "user",
  view: userView,
};
const DEVICES: AuditedResource<"identity_devices", ReturnType<typeof deviceView>> = {
  table: "identity_devices",
  resource: "device",
  view: deviceView,
};

async function ownUser(
  db: Db,
  accountId: string,
  userId: string | null | undefined,
): Promise<void> {
  if (userId === undefined || userId === null) return;
  const u = await db
    .selectFrom("identity_users")
    .select("id")
    .where("account_id", "=", accountId)
    .where("id", "=", userId)
    .executeTakeFirst();
  if (!u) throw new GatehouseError("GH_ERR_VALIDATION", "no such user", { path: "/userId" });
}

async function ownLocation(
  db: Db,
  accountId: string,
  locationId: string | null | undefined,
): Promise<void> {
  if (locationId === undefined || locationId === null) return;
  const l = await db
    .selectFrom("locations")
    .select("id")
    .where("account_id", "=", accountId)
    .where("id", "=", locationId)
    .executeTakeFirst();
  if (!l)
    throw new GatehouseError("GH_ERR_VALIDATION", "no such location", { path: "/locationId" });
}

const NEEDS_LOCATION = "a DoH token needs the device's location (locationId)";

export async function identityRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { db } = app.gatehouse;

  app.get(
    "/identities/users",
    {
      config: { access: "viewer", cacheable: true },
      schema: {
        tags,
        summary: "List users",
        querystring: PageQuery,
        response: { 200: Page(UserView) },
      },
    },
    async (req) => {
      const q = req.query;
      return pageOwned(db, USERS, who(req).accountId, q);
    },
  );

  app.post(
    "/identities/users",
    {
      config: { access: "editor", autoPublish: true, errors: [409, 422] },
      schema: { tags, summary: "Create a user", body: UserCreate, response: { 201: UserView } },
    },
    async (req, reply) => {
      const p = who(req);
      const b = req.body;
      return idempotent(db, req, reply, p.accountId, async () => {
        const row = await db.transaction().execute(async (trx) => {
          const r = await trx
            .insertInto("identity_users")
            .values({
              id: newId("usr"),
              account_id: p.accountId,
              email: b.email.toLowerCase(),
              name: b.name ?? null,
              groups: JSON.stringify(b.groups ?? []),
            })
            .returningAll()
            .executeTakeFirstOrThrow();
          await audit(trx, {
            accountId: p.accountId,
            actor: actorOf(p),
            resource: "user",
            resourceId: r.id,
            action: "create",
            after: userView(r),
          });
          return r;
        });
        reply.header("etag", etagOf(row.version));
        return { status: 201, body: userView(row) };
      });
    },
  );

  app.get(
    "/identities/users/:id",
    {
      config: { access: "viewer" },
      schema: { tags, summary: "Get a user", params: IdParams, response: { 200: UserView } },
    },
    async (req, reply) => {
      const row = await loadOwned(db, USERS, who(req).accountId, req.params.id);
      reply.header("etag", etagOf(row.version));
      return userView(row);
    },
  );

  app.patch(
    "/identities/users/:id",
    {
      config: { access: "editor", autoPublish: true, errors: [409, 412, 422] },
      schema: {
        tags,
        summary: "Change a user",
        params: IdParams,
        body: UserPatch,
        response: { 200: UserView },
      },
    },
    async (req, reply) => {
      const b = req.body;
      const row = await updateAudited(db, USERS, target(req), "update", () => ({
        ...(b.email !== undefined ? { email: b.email.toLowerCase() } : {}),
        ...(b.name !== undefined ? { name: b.name } : {}),
        ...(b.groups !== undefined ? { groups: JSON.stringify(b.groups) } : {}),
      }));
      reply.header("etag", etagOf(row.version));
      return userView(row);
    },
  );

  app.post(
    "/identities/users/:id/credential",
    {
      config: { access: "editor", autoPublish: true, errors: [412] },
      schema: {
        tags,
        summary:
          "Issue the user's proxy password (Basic auth, user = email); shown in this response only, any previous one stops working at the next publish",
        params: IdParams,
        response: { 200: UserWithCredential },
      },
    },
    async (req, reply) => {
      const secret = generateSecret(USER_CREDENTIAL_PREFIX);
      const hash = await hashSecret(secret);
      const row = await updateAudited(db, USERS, target(req), "rotate-credential", () => ({
        credential_hash: hash,
      }));
      reply.header("etag", etagOf(row.version));
      return { ...userView(row), credential: secret };
    },
  );

  app.delete(
    "/identities/users/:id/credential",
    {
      config: { access: "editor", autoPublish: true, errors: [412] },
      schema: {
        tags,
        summary:
          "Remove the user's proxy password: it stops working at the next publish (their devices keep theirs); a user without one is answered as is",
        params: IdParams,
        response: { 200: UserView },
      },
    },
    async (req, reply) => {
      const t = target(req);
      const current = await loadOwned(db, USERS, t.accountId, t.id);
      let row = current;
      if (current.credential_hash === null) checkIfMatch(req, current.version);
      else
        row = await updateAudited(db, USERS, t, "remove-credential", () => ({
          credential_hash: null,
        }));
      reply.header("etag", etagOf(row.version));
      return userView(row);
    },
  );

  app.delete(
    "/identities/users/:id",
    {
      config: { access: "editor", autoPublish: true, errors: [412] },
      schema: {
        tags,
        summary: "Delete a user (their devices stay, unassigned)",
        params: IdParams,
        response: { 204: NoContent },
      },
    },
    async (req, reply) => {
      await deleteAudited(db, USERS, target(req));
      return reply.status(204).send();
    },
  );

  app.get(
    "/identities/devices",
    {
      config: { access: "viewer", cacheable: true },
      schema: {
        tags,
        summary: "List devices",
        querystring: PageQuery,
        response: { 200: Page(DeviceView) },
      },
    },
    async (req) => {
      const q = req.query;
      return pageOwned(db, DEVICES, who(req).accountId, q);
    },
  );

  app.post(
    "/identities/devices",
    {
      config: { access: "editor", autoPublish: true, errors: [409, 422] },
      schema: {
        tags,
        summary: "Create a device; its proxy credential is in this response only",
        body: DeviceCreate,
        response: { 201: DeviceWithCredential },
      },
    },
    async (req, reply) => {
      const p = who(req);
      const b = req.body;
      // Not replayed under Idempotency-Key: a replay would have to store the credential.
      if (req.headers["idempotency-key"] !== undefined)
        throw new GatehouseError(
          "GH_ERR_BAD_REQUEST",
          "device creation returns a secret and cannot be replayed; omit Idempotency-Key",
        );
      await ownUser(db, p.accountId, b.userId);
      await ownLocation(db, p.accountId, b.locationId);
      if (b.dohToken === true && b.locationId === undefined)
        throw new GatehouseError("GH_ERR_VALIDATION", NEEDS_LOCATION, { path: "/locationId" });
      const issued = await issueSecret("device");
      const doh = b.dohToken === true ? newDohToken() : undefined;
      const row = await db.transaction().execute(async (trx) => {
        const r = await trx
          .insertInto("identity_devices")
          .values({
            id: newId("dev"),
            account_id: p.accountId,
            name: b.name,
            user_id: b.userId ?? null,
            credential_hash: issued.hash,
            location_id: b.locationId ?? null,
            ...(doh !== undefined
              ? { doh_token_sha256: dohTokenDigest(doh), doh_token_issued_at: new Date() }
              : {}),
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        await audit(trx, {
          accountId: p.accountId,
          actor: actorOf(p),
          resource: "device",
          resourceId: r.id,
          action: "create",
          after: deviceView(r),
        });
        return r;
      });
      reply.header("etag", etagOf(row.version)).status(201);
      return {
        ...deviceView(row),
        credential: issued.secret,
        ...(doh !== undefined ? { dohToken: doh } : {}),
      };
    },
  );

  app.get(
    "/identities/devices/:id",
    {
      config: { access: "viewer" },
      schema: { tags, summary: "Get a device", params: IdParams, response: { 200: DeviceView } },
    },
    async (req, reply) => {
      const row = await loadOwned(db, DEVICES, who(req).accountId, req.params.id);
      reply.header("etag", etagOf(row.version));
      return deviceView(row);
    },
  );

  app.patch(
    "/identities/devices/:id",
    {
      config: { access: "editor", autoPublish: true, errors: [409, 412, 422] },
      schema: {
        tags,
        summary: "Change a device",
        params: IdParams,
        body: DevicePatch,
        response: { 200: DeviceView },
      },
    },
    async (req, reply) => {
      const p = who(req);
      const b = req.body;
      await ownUser(db, p.accountId, b.userId);
      await ownLocation(db, p.accountId, b.locationId);
      const row = await updateAudited(
        db,
        DEVICES,
        target(req),
        "update",
        () => ({
          ...(b.name !== undefined ? { name: b.name } : {}),
          ...(b.userId !== undefined ? { user_id: b.userId } : {}),
          ...(b.locationId !== undefined ? { location_id: b.locationId } : {}),
        }),
        async (before) => {
          // A token without a location would name no one's policies.
          if (b.locationId === null && before.doh_token_sha256 !== null)
            throw new GatehouseError(
              "GH_ERR_VALIDATION",
              "the device has a DoH token: revoke it before removing the location",
              { path: "/locationId" },
            );
        },
      );
      reply.header("etag", etagOf(row.version));
      return deviceView(row);
    },
  );

  app.post(
    "/identities/devices/:id/credential",
    {
      config: { access: "editor", autoPublish: true, errors: [412] },
      schema: {
        tags,
        summary: "Issue a new credential (the old one stops working at the next publish)",
        params: IdParams,
        response: { 200: DeviceWithCredential },
      },
    },
    async (req, reply) => {
      const issued = await issueSecret("device");
      const row = await updateAudited(db, DEVICES, target(req), "rotate-credential", () => ({
        credential_hash: issued.hash,
      }));
      reply.header("etag", etagOf(row.version));
      return { ...deviceView(row), credential: issued.secret };
    },
  );

  app.post(
    "/identities/devices/:id/doh-token",
    {
      config: { access: "editor", autoPublish: true, errors: [412, 422] },
      schema: {
        tags,
        summary:
          "Issue the device's DoH URL token (in this answer only; a previous token stops working at the next publish)",
        params: IdParams,
        body: DohTokenIssue,
        response: { 200: DeviceWithDohToken },
      },
    },
    async (req, reply) => {
      const p = who(req);
      const locationId = req.body.locationId;
      await ownLocation(db, p.accountId, locationId);
      const token = newDohToken();
      const row = await updateAudited(
        db,
        DEVICES,
        target(req),
        "issue-doh-token",
        () => ({
          ...(locationId !== undefined ? { location_id: locationId } : {}),
          doh_token_sha256: dohTokenDigest(token),
          doh_token_issued_at: new Date(),
        }),
        async (before) => {
          if (locationId === undefined && before.location_id === null)
            throw new GatehouseError("GH_ERR_VALIDATION", NEEDS_LOCATION, {
              path: "/locationId",
            });
        },
      );
      reply.header("etag", etagOf(row.version));
      return { ...deviceView(row), dohToken: token };
    },
  );

  app.delete(
    "/identities/devices/:id/doh-token",
    {
      config: { access: "editor", autoPublish: true, errors: [412] },
      schema: {
        tags,
        summary: "Revoke the device's DoH token (it stops working at the next publish)",
        params: IdParams,
        response: { 200: DeviceView },
      },
    },
    async (req, reply) => {
      const row = await updateAudited(db, DEVICES, target(req), "revoke-doh-token", () => ({
        doh_token_sha256: null,
        doh_token_issued_at: null,
      }));
      reply.header("etag", etagOf(row.version));
      return deviceView(row);
    },
  );

  app.delete(
    "/identities/devices/:id",
    {
      config: { access: "editor", autoPublish: true, errors: [412] },
      schema: { tags, summary: "Delete a device", params: IdParams, response: { 204: NoContent } },
    },
    async (req, reply) => {
      await deleteAudited(db, DEVICES, target(req));
      return reply.status(204).send();
    },
  );
}
