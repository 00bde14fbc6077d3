// `gatehouse admin password [USERNAME]`: set a dashboard user's password (the user is made when
// there is none). Through control's API with an admin token (GATEHOUSE_TOKEN), or, with
// --data-dir / --database-url, straight in the database while control is stopped (a lost
// password and no token at hand). The new password is read from stdin when stdin is not a
// terminal; otherwise one is generated and printed once.

import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { DashboardUserCreated, DashboardUserView } from "@gatehouse/contract";
import { commandLine } from "./command-line.ts";
import { ControlClient } from "./control-client.ts";
import { DEFAULT_CONTROL_URL } from "./import.ts";
import type { Io } from "./rules.ts";

const USAGE = `usage: gatehouse admin password [USERNAME] [--role admin|editor|viewer] [--control URL]
       gatehouse admin password [USERNAME] [--role …] --data-dir DIR | --database-url URL

Sets the dashboard password of USERNAME (default admin), making the user with --role (default
admin) when there is none; the user's sessions end. The password is read from stdin when it is
piped (one line), else generated and printed once. Passwords have at least 10 characters.

  --control URL       control's address (default ${DEFAULT_CONTROL_URL}); the admin API token
                      comes from GATEHOUSE_TOKEN
  --data-dir DIR      no token: write to the database in DIR (gatehouse up's or gatehouse
                      control's data directory) — stop Gatehouse first
  --database-url URL  no token: write to this PostgreSQL database`;

const ROLES = ["admin", "editor", "viewer"] as const;
type Role = (typeof ROLES)[number];

export async function adminCommand(argv: readonly string[], io: Io): Promise<number> {
  const parsed = commandLine(() => parse(argv), USAGE, io);
  if (typeof parsed === "number") return parsed;
  const { values, positionals } = parsed;
  const [sub, username = "admin", ...extra] = positionals;
  if (sub !== "password" || extra.length > 0) {
    io.err(USAGE);
    return 2;
  }
  const role = (values.role ?? "admin") as Role;
  if (!ROLES.includes(role)) {
    io.err(`--role takes admin, editor or viewer, got ${JSON.stringify(values.role)}`);
    return 2;
  }
  const piped = !(io.stdin as { isTTY?: boolean }).isTTY;
  const chosen = piped ? await readLine(io.stdin) : undefined;
  if (chosen !== undefined && chosen.length < 10) {
    io.err("gatehouse admin password: the password read from stdin has fewer than 10 characters");
    return 1;
  }
  const { generatePassword } = await import("@gatehouse/control");
  const password = chosen ?? generatePassword();
  const offline = values["data-dir"] !== undefined || values["database-url"] !== undefined;
  let created: boolean;
  if (offline) {
    const { openStore, setDashboardPassword } = await import("@gatehouse/control");
    const store = await openStore(storageOf(values["data-dir"], values["database-url"]));
    try {
      ({ created } = await setDashboardPassword(store.db, {
        username,
        password,
        role,
        actor: "cli:admin-password",
      }));
    } finally {
      await store.close();
    }
  } else {
    const token = process.env["GATEHOUSE_TOKEN"];
    if (!token) {
      io.err(
        "gatehouse admin password: set GATEHOUSE_TOKEN to an admin API token, or give --data-dir (with Gatehouse stopped)",
      );
      return 2;
    }
    const client = new ControlClient(values.control ?? DEFAULT_CONTROL_URL, token);
    const users = await client.call<{ items: DashboardUserView[] }>("GET", "/users?limit=1000");
    const user = users.items.find((u) => u.username === username.toLowerCase());
    if (user) {
      await client.call("PUT", `/users/${encodeURIComponent(user.id)}/password`, { password });
      created = false;
    } else {
      await client.call<DashboardUserCreated>("POST", "/users", { username, role, password });
      created = true;
    }
  }
  io.err(
    created
      ? `dashboard user ${username.toLowerCase()} (${role}) created`
      : `password of ${username.toLowerCase()} changed; its sessions ended`,
  );
  if (chosen === undefined) io.out(`password (shown once, keep it): ${password}`);
  return 0;
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      role: { type: "string" },
      control: { type: "string" },
      "data-dir": { type: "string" },
      "database-url": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
}

/** `gatehouse up`'s data directory holds control's PGlite in control/pglite, control's in pglite. */
function storageOf(
  dataDir: string | undefined,
  databaseUrl: string | undefined,
): { dataDir: string } | { databaseUrl: string } {
  if (databaseUrl !== undefined) return { databaseUrl };
  const dir = resolve(dataDir ?? "gatehouse-data");
  const up = join(dir, "control", "pglite");
  const own = join(dir, "pglite");
  if (existsSync(up)) return { dataDir: up };
  if (existsSync(own)) return { dataDir: own };
  throw new Error(`no Gatehouse database in ${dir} (looked for control/pglite and pglite)`);
}

/** The first line of stdin (at most 4 KiB), without its line break. */
async function readLine(stdin: NodeJS.ReadableStream): Promise<string> {
  let text = "";
  for await (const chunk of stdin) {
    text += typeof chunk === "string" ? chunk : (chunk as Buffer).toString("utf8");
    if (text.includes("\n") || text.length > 4096) break;
  }
  return (text.split(/\r?\n/)[0] ?? "").slice(0, 4096);
}
