// First start: a fresh install gets the system ("default") account and an admin token, either
// generated (returned once, for the caller to print) or taken from GATEHOUSE_ADMIN_TOKEN; and a
// dashboard user "admin" whose password is generated (returned once) or taken from
// GATEHOUSE_ADMIN_PASSWORD. An install from before dashboard users gets its "admin" on the first
// start that knows them. With an operator token and no operator password no user is made
// (`gatehouse admin password` makes one).

import { randomBytes } from "node:crypto";
import { hashSecret, PASSWORD_SCRYPT, type ScryptParams } from "@gatehouse/contract/secrets";
import { audit } from "./audit.ts";
import { apiTokenLookupId, issueSecret, MIN_OPERATOR_TOKEN_LENGTH } from "./auth/tokens.ts";
import type { Db } from "./context.ts";
import type { Role } from "./db/schema.ts";
import { newId } from "./ids.ts";
import { DEFAULT_RESOLVER } from "./views.ts";

const DEFAULT_ACCOUNT_ID = "acc_default";

interface BootstrapResult {
  readonly accountId: string;
  /** Set only when this call generated a new admin token. */
  readonly adminToken?: string;
  /** Set only when this call created the dashboard user "admin" with a generated password. */
  readonly adminPassword?: string;
}

/** How bootstrap makes the first dashboard user. */
export interface FirstUserOptions {
  readonly hashPassword: (password: string) => Promise<string>;
  /** GATEHOUSE_ADMIN_PASSWORD. */
  readonly password?: string;
}

export const FIRST_USERNAME = "admin";

/** A password to show once: 24 characters of base64url (144 bits). */
export function generatePassword(): string {
  return randomBytes(18).toString("base64url");
}

export async function createAccount(
  db: Db,
  opts: { id?: string; name: string; isSystem?: boolean; actor: string },
): Promise<{ accountId: string; adminToken: string; tokenId: string }> {
  const id = opts.id ?? newId("acc");
  const issued = await issueSecret("api");
  await db.transaction().execute(async (trx) => {
    await trx
      .insertInto("accounts")
      .values({ id, name: opts.name, is_system: opts.isSystem ?? false })
      .execute();
    await trx
      .insertInto("account_settings")
      .values({
        account_id: id,
        resolver: JSON.stringify(DEFAULT_RESOLVER),
        allow_unknown_clients: false,
      })
      .execute();
    await trx
      .insertInto("api_tokens")
      .values({
        id: issued.id,
        account_id: id,
        name: "initial admin",
        role: "admin",
        secret_hash: issued.hash,
        expires_at: null,
        created_by: opts.actor,
      })
      .execute();
    await audit(trx, {
      accountId: id,
      actor: opts.actor,
      resource: "account",
      resourceId: id,
      action: "create",
      after: { id, name: opts.name },
    });
  });
  return { accountId: id, adminToken: issued.secret, tokenId: issued.id };
}

export async function bootstrap(
  db: Db,
  operatorToken?: string,
  firstUser?: FirstUserOptions,
): Promise<BootstrapResult> {
  if (operatorToken !== undefined && operatorToken.length < MIN_OPERATOR_TOKEN_LENGTH)
    throw new Error(
      `GATEHOUSE_ADMIN_TOKEN must be at least ${MIN_OPERATOR_TOKEN_LENGTH} characters`,
    );
  const existing = await db
    .selectFrom("accounts")
    .select("id")
    .where("is_system", "=", true)
    .executeTakeFirst();
  let accountId: string;
  let adminToken: string | undefined;
  if (!existing) {
    const created = await createAccount(db, {
      id: DEFAULT_ACCOUNT_ID,
      name: "default",
      isSystem: true,
      actor: "system:bootstrap",
    });
    accountId = created.accountId;
    if (operatorToken === undefined) adminToken = created.adminToken;
    // The operator supplies the token: the generated one is revoked unseen.
    else
      await db
        .updateTable("api_tokens")
        .set({ revoked_at: new Date() })
        .where("id", "=", created.tokenId)
        .execute();
  } else accountId = existing.id;
  if (operatorToken !== undefined) {
    const id = apiTokenLookupId(operatorToken);
    if (id === undefined)
      throw new Error(
        `GATEHOUSE_ADMIN_TOKEN must be ${MIN_OPERATOR_TOKEN_LENGTH} to 128 characters long`,
      );
    const row = await db
      .selectFrom("api_tokens")
      .select("id")
      .where("id", "=", id)
      .executeTakeFirst();
    if (!row)
      await db
        .insertInto("api_tokens")
        .values({
          id,
          account_id: accountId,
          name: "GATEHOUSE_ADMIN_TOKEN",
          role: "admin",
          secret_hash: await hashSecret(operatorToken),
          expires_at: null,
          created_by: "system:bootstrap",
        })
        .execute();
  }
  let adminPassword: string | undefined;
  if (firstUser && (operatorToken === undefined || firstUser.password !== undefined)) {
    const anyUser = await db
      .selectFrom("dashboard_users")
      .select("id")
      .where("account_id", "=", accountId)
      .executeTakeFirst();
    if (!anyUser) {
      const password = firstUser.password ?? generatePassword();
      await db
        .insertInto("dashboard_users")
        .values({
          id: newId("usr"),
          account_id: accountId,
          username: FIRST_USERNAME,
          role: "admin",
          password_hash: await firstUser.hashPassword(password),
          created_by: "system:bootstrap",
        })
        .onConflict((oc) => oc.column("username").doNothing())
        .execute();
      if (firstUser.password === undefined) adminPassword = password;
    }
  }
  return {
    accountId,
    ...(adminToken === undefined ? {} : { adminToken }),
    ...(adminPassword === undefined ? {} : { adminPassword }),
  };
}

/**
 * Set a dashboard user's password in the system account straight in the database (`gatehouse
 * admin password --data-dir`, for when no admin token is at hand; control must be stopped for
 * PGlite). Makes the user with `role` when there is none; ends the user's sessions.
 */
export async function setDashboardPassword(
  db: Db,
  opts: {
    readonly username: string;
    readonly password: string;
    readonly role: Role;
    readonly actor: string;
    readonly scrypt?: ScryptParams;
  },
): Promise<{ readonly created: boolean }> {
  const username = opts.username.toLowerCase();
  const hash = await hashSecret(opts.password, opts.scrypt ?? PASSWORD_SCRYPT);
  return db.transaction().execute(async (trx) => {
    const account = await trx
      .selectFrom("accounts")
      .select("id")
      .where("is_system", "=", true)
      .executeTakeFirst();
    if (!account) throw new Error("no system account yet: start control once first");
    const existing = await trx
      .selectFrom("dashboard_users")
      .select(["id", "account_id"])
      .where("username", "=", username)
      .executeTakeFirst();
    if (existing && existing.account_id !== account.id)
      throw new Error(`the user ${username} belongs to another account`);
    let id: string;
    if (existing) {
      id = existing.id;
      await trx
        .updateTable("dashboard_users")
        .set({ password_hash: hash, password_changed_at: new Date() })
        .where("id", "=", id)
        .execute();
      await trx
        .updateTable("dashboard_sessions")
        .set({ revoked_at: new Date() })
        .where("user_id", "=", id)
        .where("revoked_at", "is", null)
        .execute();
    } else {
      id = newId("usr");
      await trx
        .insertInto("dashboard_users")
        .values({
          id,
          account_id: account.id,
          username,
          role: opts.role,
          password_hash: hash,
          created_by: opts.actor,
        })
        .execute();
    }
    await audit(trx, {
      accountId: account.id,
      actor: opts.actor,
      resource: "user",
      resourceId: id,
      action: existing ? "set-password" : "create",
      after: { username, ...(existing ? {} : { role: opts.role }) },
    });
    return { created: !existing };
  });
}
