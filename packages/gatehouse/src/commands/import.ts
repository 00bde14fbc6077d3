// `gatehouse import pihole|adguardhome|blocky FILE [--dry-run] [--control URL]`: another DNS
// filter's configuration into Gatehouse through control's REST API (token in GATEHOUSE_TOKEN).
// The mapping is control's (`planImport`), shared with POST /api/v1/import/{product}.

import { readFile, stat } from "node:fs/promises";
import { parseArgs } from "node:util";
import {
  applyPlan,
  formatReport,
  IMPORT_PRODUCTS,
  ImportInputError,
  type ImportProduct,
  MAX_IMPORT_BYTES,
  planImport,
} from "@gatehouse/control";
import { commandLine } from "./command-line.ts";
import { ControlClient } from "./control-client.ts";
import type { Io } from "./rules.ts";

/** Where `gatehouse up` and `gatehouse control` listen by default. */
export const DEFAULT_CONTROL_URL = "http://127.0.0.1:8787";

const USAGE = `usage: gatehouse import pihole|adguardhome|blocky FILE [--dry-run] [--control URL]

  pihole FILE        a gravity.db, or a Teleporter backup (.zip from Pi-hole v6, .tar.gz from v5)
  adguardhome FILE   AdGuardHome.yaml
  blocky FILE        Blocky's config.yml
  --dry-run          print what would be created and what cannot be mapped; change nothing
                     (without GATEHOUSE_TOKEN it does not ask control what exists already)
  --control URL      control's address (default ${DEFAULT_CONTROL_URL})

The API token (editor or admin) comes from GATEHOUSE_TOKEN. Items are named after the product
("pihole: …", $pihole_…): a second run skips what the first created. The import publishes
when it is done.`;

export async function importCommand(argv: readonly string[], io: Io): Promise<number> {
  const parsed = commandLine(() => parse(argv), USAGE, io);
  if (typeof parsed === "number") return parsed;
  const { values, positionals } = parsed;
  const [product, file, ...extra] = positionals;
  if (
    !product ||
    !file ||
    extra.length > 0 ||
    !(IMPORT_PRODUCTS as readonly string[]).includes(product)
  ) {
    io.err(USAGE);
    return 2;
  }
  const size = (await stat(file)).size;
  if (size > MAX_IMPORT_BYTES) {
    io.err(`gatehouse import: ${file} is ${size} bytes; the limit is ${MAX_IMPORT_BYTES}`);
    return 1;
  }
  let plan: Awaited<ReturnType<typeof planImport>>;
  try {
    plan = await planImport(product as ImportProduct, await readFile(file));
  } catch (e) {
    if (e instanceof ImportInputError) {
      io.err(`gatehouse import: ${file}: ${e.message}`);
      return 1;
    }
    throw e;
  }
  const token = process.env["GATEHOUSE_TOKEN"];
  const dryRun = values["dry-run"] === true;
  if (!token && !dryRun) {
    io.err(
      "gatehouse import: set GATEHOUSE_TOKEN to an API token (editor or admin) of the account to import into",
    );
    return 2;
  }
  const client = token
    ? new ControlClient(values.control ?? DEFAULT_CONTROL_URL, token)
    : undefined;
  const report = await applyPlan(
    plan,
    client ? (m, p, b) => client.call(m, p, b) : undefined,
    dryRun,
  );
  for (const line of formatReport(report)) io.out(line);
  return 0;
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      "dry-run": { type: "boolean" },
      control: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
}
