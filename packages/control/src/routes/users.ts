// Dashboard sign-in (/auth/login, /auth/logout, /auth/session, /auth/password) and the
// dashboard users an admin manages (/users). API tokens are unchanged: a bearer token always
// wins over a cookie, and scripts never need a session.

import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import {
  DashboardUserCreated,
  DashboardUserView,
  GatehouseError,
  Page,
  SessionView,
} from "@gatehouse/contract";
import { Type as T } from "@sinclair/typebox";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { audit } from "../audit.ts";
import {
  DEVICE_COOKIE,
  deviceCookie,
  MAX_PASSWORD_LENGTH,
  MIN_PASSWORD_LENGTH,
  readCookie,
  sessionCookies,
  USERNAME_PATTERN,
} from "../auth/password-sign-in.ts";
import { generatePassword } from "../bootstrap.ts";
import { actorOf, type Principal } from "../context.ts";
import { ROLES } from "../db/schema.ts";
import { decodeCursor, PageQuery, page } from "../http/conventions.ts";
import { notFound } from "../http/errors.ts";
import { NoContent } from "../http/responses.ts";
import { newId } from "../ids.ts";
import { refuseReplayOfSecret } from "./accounts.ts";
import { IdParams, who } from "./common.ts";

const Role = T.Union(ROLES.map((r) => T.Literal(r)));
const Username = T.String({ minLength: 1, maxLength: 64, pattern: USERNAME_PATTERN });
const NewPassword = T.String({ minLength: MIN_PASSWORD_LENGTH, maxLength: MAX_PASSWORD_LENGTH });
const SignIn = T.Object(
  {
    username: T.String({ minLength: 1, maxLength: 64 }),
    password: T.String({ minLength: 1, maxLength: MAX_PASSWORD_LENGTH }),
  },
  { additionalProperties: false },
);
const UserCreate = T.Object(
  {
    username: Username,
    role: Role,
    /** Absent → a password is generated and answered once. */
    password: T.Optional(NewPassword),
  },
  { additionalProperties: false },
);
const PasswordSet = T.Object(
  { password: T.Optional(NewPassword) },
  { additionalProperties: false },
);
const OwnPasswordChange = T.Object(
  {
    currentPassword: T.String({ minLength: 1, maxLength: MAX_PASSWORD_LENGTH }),
    newPassword: NewPassword,
  },
  { additionalProperties: false },
);
const PasswordSetAnswer = T.Object({ password: T.Union([T.String(), T.Null()]) });

/** Cookies are Secure when the request came over HTTPS (directly or via a trusted proxy). */
function secure(req: FastifyRequest): boolean {
  return req.protocol === "https";
}

function sessionOf(p: Principal): SessionView {
  return {
    via: p.session ? "password" : "token",
    username: p.session?.username ?? null,
    accountId: p.accountId,
    role: p.role,
    csrfToken: p.session?.csrfToken ?? null,
    expiresAt: p.expiresAt === null ? null : new Date(p.expiresAt).toISOString(),
  };
}

function userView(r: {
  id: string;
  username: string;
  role: (typeof ROLES)[number];
  password_changed_at: Date;
  created_by: string;
  created_at: Date;
}): DashboardUserView {
  return {
    id: r.id,
    username: r.username,
    role: r.role,
    passwordChangedAt: r.password_changed_at.toISOString(),
    createdBy: r.created_by,
    createdAt: r.created_at.toISOString(),
  };
}

const USER_COLUMNS = [
  "id",
  "username",
  "role",
  "password_changed_at",
  "created_by",
  "created_at",
] as const;

export async function userRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { db, auth } = app.gatehouse;
  const passwords = auth.passwords;

  app.post(
    "/auth/login",
    {
      config: { access: "public", errors: [401, 429] },
      schema: {
        tags: ["sign-in"],
        summary:
          "Sign in to the dashboard with a username and password; sets the session cookie (HttpOnly, SameSite=Strict)",
        body: SignIn,
        security: [],
        response: { 200: SessionView },
      },
    },
    async (req, reply) => {
      const b = req.body;
      const s = await passwords.signIn(
        b.username,
        b.password,
        req.ip,
        readCookie(req.headers.cookie, DEVICE_COOKIE),
      );
      const tls = secure(req);
      void reply.header("set-cookie", [
        ...sessionCookies(s.session, Math.floor(passwords.sessionMaxMs / 1000), tls),
        deviceCookie(s.device, tls),
      ]);
      void reply.header("cache-control", "no-store");
      await audit(db, {
        accountId: s.accountId,
        actor: `user:${s.username}`,
        resource: "session",
        resourceId: s.sessionId,
        action: "sign-in",
        after: { client: req.ip },
      });
      return {
        via: "password" as const,
        username: s.username,
        accountId: s.accountId,
        role: s.role,
        csrfToken: s.csrfToken,
        expiresAt: s.expiresAt.toISOString(),
      };
    },
  );

  app.post(
    "/auth/logout",
    {
      config: { access: "viewer" },
      schema: {
        tags: ["sign-in"],
        summary: "Sign out: ends the session and clears its cookie (nothing to do for a token)",
        response: { 204: NoContent },
      },
    },
    async (req, reply) => {
      const p = who(req);
      if (p.session) {
        await passwords.endSession(p.session.id);
        await audit(db, {
          accountId: p.accountId,
          actor: actorOf(p),
          resource: "session",
          resourceId: p.session.id,
          action: "sign-out",
        });
        void reply.header("set-cookie", sessionCookies(undefined, 0, secure(req)));
      }
      return reply.status(204).send();
    },
  );

  app.get(
    "/auth/session",
    {
      config: { access: "viewer" },
      schema: {
        tags: ["sign-in"],
        summary: "Who is signed in, and the session's CSRF token",
        response: { 200: SessionView },
      },
    },
    async (req, reply) => {
      void reply.header("cache-control", "no-store");
      return sessionOf(who(req));
    },
  );

  app.put(
    "/auth/password",
    {
      config: { access: "viewer", errors: [401, 409] },
      schema: {
        tags: ["sign-in"],
        summary:
          "Change the signed-in user's own password (needs the current one); ends the user's other sessions",
        body: OwnPasswordChange,
        response: { 204: NoContent },
      },
    },
    async (req, reply) => {
      const p = who(req);
      if (!p.session)
        throw new GatehouseError(
          "GH_ERR_CONFLICT",
          "an API token has no password; an admin sets users' passwords with PUT /users/{id}/password",
        );
      if (!(await passwords.checkPassword(p.id, req.body.currentPassword)))
        throw new GatehouseError("GH_ERR_UNAUTHENTICATED", "the current password is wrong");
      await setPassword(p, p.id, await passwords.hashPassword(req.body.newPassword));
      await passwords.endSessionsOf(p.id, p.session.id);
      return reply.status(204).send();
    },
  );

  /** Store a new hash for a user of the caller's account; 404 when there is none. */
  async function setPassword(p: Principal, userId: string, hash: string): Promise<void> {
    await db.transaction().execute(async (trx) => {
      const r = await trx
        .updateTable("dashboard_users")
        .set({ password_hash: hash, password_changed_at: new Date() })
        .where("account_id", "=", p.accountId)
        .where("id", "=", userId)
        .returning(["id", "username"])
        .executeTakeFirst();
      if (!r) throw notFound("user");
      await audit(trx, {
        accountId: p.accountId,
        actor: actorOf(p),
        resource: "user",
        resourceId: r.id,
        action: "set-password",
        after: { username: r.username },
      });
    });
  }

  app.get(
    "/users",
    {
      config: { access: "admin" },
      schema: {
        tags: ["sign-in"],
        summary: "List the dashboard users (never their passwords)",
        querystring: PageQuery,
        response: { 200: Page(DashboardUserView) },
      },
    },
    async (req) => {
      const p = who(req);
      const limit = req.query.limit ?? 100;
      const after = decodeCursor(req.query.cursor);
      let q = db
        .selectFrom("dashboard_users")
        .select(USER_COLUMNS)
        .where("account_id", "=", p.accountId);
      if (after !== undefined) q = q.where("id", ">", after);
      const rows = await q
        .orderBy("id")
        .limit(limit + 1)
        .execute();
      return page(rows, limit, (r) => r.id, userView);
    },
  );

  app.post(
    "/users",
    {
      config: { access: "admin", errors: [409] },
      schema: {
        tags: ["sign-in"],
        summary: "Add a dashboard user; without a password one is generated and answered only here",
        body: UserCreate,
        response: { 201: DashboardUserCreated },
      },
    },
    async (req, reply) => {
      const p = who(req);
      const b = req.body;
      refuseReplayOfSecret(req);
      const username = b.username.toLowerCase();
      const password = b.password ?? generatePassword();
      const hash = await passwords.hashPassword(password);
      const row = await db.transaction().execute(async (trx) => {
        const r = await trx
          .insertInto("dashboard_users")
          .values({
            id: newId("usr"),
            account_id: p.accountId,
            username,
            role: b.role,
            password_hash: hash,
            created_by: actorOf(p),
          })
          .onConflict((oc) => oc.column("username").doNothing())
          .returning(USER_COLUMNS)
          .executeTakeFirst();
        if (!r)
          throw new GatehouseError("GH_ERR_CONFLICT", `the username ${username} is taken`, {
            path: "/username",
          });
        await audit(trx, {
          accountId: p.accountId,
          actor: actorOf(p),
          resource: "user",
          resourceId: r.id,
          action: "create",
          after: { username, role: b.role },
        });
        return r;
      });
      return reply
        .status(201)
        .send({ ...userView(row), password: b.password === undefined ? password : null });
    },
  );

  app.put(
    "/users/:id/password",
    {
      config: { access: "admin" },
      schema: {
        tags: ["sign-in"],
        summary:
          "Set a dashboard user's password (generated and answered once when absent); ends the user's sessions",
        params: IdParams,
        body: PasswordSet,
        response: { 200: PasswordSetAnswer },
      },
    },
    async (req) => {
      const p = who(req);
      refuseReplayOfSecret(req);
      const password = req.body.password ?? generatePassword();
      await setPassword(p, req.params.id, await passwords.hashPassword(password));
      await passwords.endSessionsOf(req.params.id, p.session?.id);
      return { password: req.body.password === undefined ? password : null };
    },
  );

  app.delete(
    "/users/:id",
    {
      config: { access: "admin" },
      schema: {
        tags: ["sign-in"],
        summary: "Remove a dashboard user (its sessions end with it)",
        params: IdParams,
        response: { 204: NoContent },
      },
    },
    async (req, reply) => {
      const p = who(req);
      await db.transaction().execute(async (trx) => {
        const r = await trx
          .deleteFrom("dashboard_users")
          .where("account_id", "=", p.accountId)
          .where("id", "=", req.params.id)
          .returning(["id", "username", "role"])
          .executeTakeFirst();
        if (!r) throw notFound("user");
        await audit(trx, {
          accountId: p.accountId,
          actor: actorOf(p),
          resource: "user",
          resourceId: r.id,
          action: "delete",
          before: { username: r.username, role: r.role },
        });
      });
      return reply.status(204).send();
    },
  );
}
