// `gatehouse control`: the control plane's API server. PGlite in the data directory unless a
// PostgreSQL URL is given; migrations apply on start (`gatehouse control migrate` applies them
// and exits).

import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { openStore, startControl } from "@gatehouse/control";
import type { Io } from "./rules.ts";
import { onShutdown } from "./signals.ts";

const USAGE = `usage: gatehouse control [migrate] [--data-dir DIR | --database-url URL] [--listen ADDR:PORT]

  --data-dir DIR       PGlite data directory (default ./gatehouse-data/control)
  --database-url URL   PostgreSQL instead of PGlite (also DATABASE_URL)
  --listen ADDR:PORT   API address (default 127.0.0.1:8787)
The first start prints an admin token once (or takes GATEHOUSE_ADMIN_TOKEN).`;

export async function controlCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      "data-dir": { type: "string" },
      "database-url": { type: "string" },
      listen: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    io.out(USAGE);
    return 0;
  }
  const databaseUrl = values["database-url"] ?? process.env["DATABASE_URL"];
  const dataDir = resolve(values["data-dir"] ?? "gatehouse-data/control");
  const storage = databaseUrl ? { databaseUrl } : { dataDir };
  const [sub] = positionals;
  if (sub === "migrate") {
    const store = await openStore(storage);
    io.out(
      store.applied.length === 0
        ? "migrations: up to date"
        : `migrations applied: ${store.applied.join(", ")}`,
    );
    await store.close();
    return 0;
  }
  if (sub !== undefined) {
    io.err(`unknown control command ${JSON.stringify(sub)}\n${USAGE}`);
    return 2;
  }
  const adminToken = process.env["GATEHOUSE_ADMIN_TOKEN"];
  const control = await startControl({
    ...storage,
    ...(values.listen ? { listen: values.listen } : {}),
    ...(adminToken ? { adminToken } : {}),
  });
  io.err(
    `gatehouse control: API on ${control.address}/api/v1 (docs at ${control.address}/api/v1/docs)`,
  );
  io.err(`  storage: ${databaseUrl ? "PostgreSQL" : `PGlite in ${dataDir}`}`);
  if (control.adminToken) io.err(`  admin token (shown once, keep it): ${control.adminToken}`);
  await onShutdown(() => control.close(), io.err);
  return 0;
}
