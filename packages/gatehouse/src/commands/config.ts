// `gatehouse config test FILE.yaml`: the configuration as code, through control's REST API
// (--control URL, the token from GATEHOUSE_TOKEN). `test` sends the document to POST
// /config/check, which validates it as an import would and runs its policy tests; nothing is
// stored. It exits 1 when a case fails or the document does not validate, printing each with
// its place in the file (FILE:LINE:COLUMN).

import { readFile, stat } from "node:fs/promises";
import { parseArgs } from "node:util";
import type { ConfigCheckWithTests } from "@gatehouse/contract";
import { ControlClient } from "./control-client.ts";
import { DEFAULT_CONTROL_URL } from "./import.ts";
import type { Io } from "./rules.ts";

/** The largest document sent (control's bulk body limit is larger). */
const MAX_DOCUMENT_BYTES = 64 * 1024 * 1024;

const USAGE = `usage: gatehouse config test FILE.yaml [--control URL]

  test FILE.yaml   validate FILE (a document as \`GET /config/export\` writes it) and run its
                   policy tests; exits 1 when a test fails or FILE does not validate
  --control URL    control's address (default ${DEFAULT_CONTROL_URL})

The API token comes from GATEHOUSE_TOKEN.`;

export async function configCommand(argv: readonly string[], io: Io): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (e) {
    io.err(`${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.out(USAGE);
    return 0;
  }
  const [sub, file, ...extra] = positionals;
  if (sub !== "test" || !file || extra.length > 0) {
    io.err(USAGE);
    return 2;
  }
  const token = process.env["GATEHOUSE_TOKEN"];
  if (!token) {
    io.err("gatehouse config: set GATEHOUSE_TOKEN to an API token of the account");
    return 2;
  }
  const client = new ControlClient(values.control ?? DEFAULT_CONTROL_URL, token);
  const size = (await stat(file)).size;
  if (size > MAX_DOCUMENT_BYTES) {
    io.err(`gatehouse config: ${file} is ${size} bytes; the limit is ${MAX_DOCUMENT_BYTES}`);
    return 1;
  }
  const text = await readFile(file, "utf8");
  return testDocument(client, file, text, io);
}

async function testDocument(
  client: ControlClient,
  file: string,
  text: string,
  io: Io,
): Promise<number> {
  const c = await client.yaml<ConfigCheckWithTests>("POST", "/config/check", text);
  const where = (path: string) => {
    const s = c.spans?.find((x) => x.path === path);
    return s ? `${file}:${s.line}:${s.column}` : `${file} ${path}`;
  };
  for (const p of c.problems) io.err(`${where(p.path)}: ${p.path}: ${p.message}`);
  for (const w of c.warnings) io.out(`${where(w.path)}: warning: ${w.message}`);
  for (const r of c.tests.results) {
    const at = r.line !== undefined ? `${file}:${r.line}:${r.column}` : `${file} ${r.path}`;
    if (r.passed) {
      const by = r.actual.policyName !== null ? ` by "${r.actual.policyName}"` : "";
      io.out(`PASS ${r.name} (${r.actual.action}${by})`);
    } else io.out(`FAIL ${at}: ${r.name}: ${r.message ?? "failed"}`);
  }
  if (c.problems.length > 0) {
    io.err(`${file} does not validate (${c.problems.length} problem(s)); no tests ran`);
    return 1;
  }
  io.out(`${c.tests.passed} passed, ${c.tests.failed} failed`);
  return c.tests.failed > 0 ? 1 : 0;
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      control: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
}
