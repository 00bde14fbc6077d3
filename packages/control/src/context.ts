// What every route handler reaches: the store, the authenticators, the bundle publisher and the
// options this app was built with. Also the Fastify type augmentations shared by all routes.

import type { Kysely } from "kysely";
import type { Database, Role } from "./db/schema.ts";

/** Who may call a route. `system` = an admin of the install's system account. */
export type AccessLevel = "public" | "viewer" | "editor" | "admin" | "system" | "edge";

export interface Principal {
  /** The API token id, or the dashboard user's id for a session (the audit actor). */
  readonly id: string;
  readonly accountId: string;
  readonly role: Role;
  readonly isSystemAccount: boolean;
  readonly expiresAt: number | null;
  /** Present when the caller signed in with a password (a session cookie). */
  readonly session?: {
    readonly id: string;
    readonly username: string;
    readonly csrfToken: string;
  };
}

export interface EdgePrincipal {
  readonly id: string;
  readonly accountId: string;
}

declare module "fastify" {
  interface FastifyContextConfig {
    /** Required on every route: who may call it. */
    access?: AccessLevel;
    /** A successful call changes what edges enforce: schedule a debounced auto-publish. */
    autoPublish?: boolean;
    /** A collection GET whose serialized page may be cached until the account changes. */
    cacheable?: boolean;
    /**
     * Error statuses only this route answers with (409, 412, 422, …); those that follow from
     * its access level and schema are added to its response schema for it (http/responses.ts).
     */
    errors?: readonly number[];
  }
  interface FastifyRequest {
    principal: Principal | null;
    edge: EdgePrincipal | null;
  }
}

export type Db = Kysely<Database>;

/** The audit actor string for a principal. */
export function actorOf(p: Principal | EdgePrincipal): string {
  if (!("role" in p)) return `edge:${p.id}`;
  return p.session ? `user:${p.session.username}` : `token:${p.id}`;
}
