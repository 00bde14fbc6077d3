// First start: a fresh install gets the system ("default") account and an admin token, either
// generated (returned once, for the caller to print) or taken from GATEHOUSE_ADMIN_TOKEN.

import { hashSecret } from "@gatehouse/contract/secrets";
import { audit } from "./audit.ts";
import { apiTokenLookupId, issueSecret, MIN_OPERATOR_TOKEN_LENGTH } from "./auth/tokens.ts";
import type { Db } from "./context.ts";
import { newId } from "./ids.ts";
import { DEFAULT_RESOLVER } from "./views.ts";

const DEFAULT_ACCOUNT_ID = "acc_default";

interface BootstrapResult {
  readonly accountId: string;
  /** Set only when this call generated a new admin token. */
  readonly adminToken?: string;
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

export async function bootstrap(db: Db, operatorToken?: string): Promise<BootstrapResult> {
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
    const id = apiTokenLookupId(operatorToken)!;
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
  return adminToken === undefined ? { accountId } : { accountId, adminToken };
}
