// `gatehouse config pull|plan|apply|test`: the configuration as code, through control's REST
// API (--control URL, the token from GATEHOUSE_TOKEN), so it can live in Git and be applied from
// CI with the same validation and audit as the dashboard.
//
//   pull               GET /config/export: the account's configuration as YAML (stdout or -o)
//   plan FILE.yaml     POST /config/plan: what applying FILE would change, and its policy tests
//   apply FILE.yaml    plan; refuse when a test fails; PUT /config/export; POST /config/publish
//                      (with a rollout plan that starts a staged rollout). Applying the same
//                      file again changes nothing.
//   test FILE.yaml     POST /config/check: validate FILE and run its policy tests, store nothing
//
// Problems and failing cases are printed with their place in the file (FILE:LINE:COLUMN).
// Exit codes: 0 done, 1 a failing test or a document control refuses, 2 usage.

import { readFile, stat, writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import type {
  ConfigCheckWithTests,
  ConfigPlanResult,
  PolicyTestReport,
  PublishResult,
  RolloutView,
} from "@gatehouse/contract";
import { formatPlan } from "@gatehouse/control";
import { commandLine } from "./command-line.ts";
import { ControlClient, ControlError } from "./control-client.ts";
import { DEFAULT_CONTROL_URL } from "./import.ts";
import type { Io } from "./rules.ts";

/** The largest document sent (control's bulk body limit is larger). */
const MAX_DOCUMENT_BYTES = 64 * 1024 * 1024;

const USAGE = `usage: gatehouse config pull|plan|apply|test [FILE.yaml] [--control URL]

  pull [-o FILE]     write the account's configuration as YAML (stdout without -o); lists that
                     follow a URL are written by reference (their subscription, not their items)
  plan FILE.yaml     what applying FILE would change, and its policy tests' results
  apply FILE.yaml    apply FILE (validated whole first; refused when a policy test fails), then
                     publish, which starts a staged rollout when the account has a plan
  test FILE.yaml     validate FILE and run its policy tests; exits 1 when one fails
  --control URL      control's address (default ${DEFAULT_CONTROL_URL})

The API token comes from GATEHOUSE_TOKEN (admin for pull and apply: the document carries
credential hashes). Exit codes: 0 done, 1 a test failed or control refused FILE, 2 usage.`;

export async function configCommand(argv: readonly string[], io: Io): Promise<number> {
  const parsed = commandLine(() => parse(argv), USAGE, io);
  if (typeof parsed === "number") return parsed;
  const { values, positionals } = parsed;
  const [sub, file, ...extra] = positionals;
  const needsFile = sub === "plan" || sub === "apply" || sub === "test";
  if (
    extra.length > 0 ||
    !(needsFile || sub === "pull") ||
    (needsFile && !file) ||
    (sub === "pull" && file)
  ) {
    io.err(USAGE);
    return 2;
  }
  const token = process.env["GATEHOUSE_TOKEN"];
  if (!token) {
    io.err("gatehouse config: set GATEHOUSE_TOKEN to an API token of the account");
    return 2;
  }
  const client = new ControlClient(values.control ?? DEFAULT_CONTROL_URL, token);
  if (sub === "pull") {
    const yaml = await client.text("/config/export");
    if (values.output) await writeFile(values.output, yaml, { mode: 0o600 });
    else process.stdout.write(yaml);
    return 0;
  }
  if (file === undefined) {
    io.err(USAGE);
    return 2;
  }
  const path = file;
  const size = (await stat(path)).size;
  if (size > MAX_DOCUMENT_BYTES) {
    io.err(`gatehouse config: ${path} is ${size} bytes; the limit is ${MAX_DOCUMENT_BYTES}`);
    return 1;
  }
  const text = await readFile(path, "utf8");
  try {
    if (sub === "test") return await testDocument(client, path, text, io);
    return await planOrApply(client, path, text, io, sub === "apply");
  } catch (e) {
    if (!(e instanceof ControlError) || e.status !== 422) throw e;
    printProblems(path, e, io);
    return 1;
  }
}

/** A 422's problems, each at its place in the file. */
function printProblems(file: string, e: ControlError, io: Io): void {
  const problems =
    (
      e.details as {
        problems?: { path: string; message: string; line?: number; column?: number }[];
      }
    )?.problems ?? [];
  io.err(e.message);
  for (const p of problems)
    io.err(
      `${p.line !== undefined ? `${file}:${p.line}:${p.column}` : file}: ${p.path}: ${p.message}`,
    );
}

function printTests(file: string, tests: PolicyTestReport, io: Io): void {
  for (const r of tests.results) {
    const at = r.line !== undefined ? `${file}:${r.line}:${r.column}` : `${file} ${r.path}`;
    if (r.passed) {
      const by = r.actual.policyName !== null ? ` by "${r.actual.policyName}"` : "";
      io.out(`PASS ${r.name} (${r.actual.action}${by})`);
    } else io.out(`FAIL ${at}: ${r.name}: ${r.message ?? "failed"}`);
    for (const n of r.notes ?? []) io.out(`  note: ${n}`);
  }
  io.out(`Policy tests: ${tests.passed} passed, ${tests.failed} failed`);
}

async function planOrApply(
  client: ControlClient,
  file: string,
  text: string,
  io: Io,
  apply: boolean,
): Promise<number> {
  const plan = await client.yaml<ConfigPlanResult>("POST", "/config/plan", text);
  for (const line of formatPlan(plan)) io.out(line);
  printTests(file, plan.tests, io);
  if (plan.tests.failed > 0) {
    if (apply) io.err(`not applied: ${plan.tests.failed} policy test(s) fail`);
    return 1;
  }
  if (!apply) return 0;
  const empty = plan.add + plan.change + plan.remove === 0;
  if (!empty) await client.yaml("PUT", "/config/export", text);
  const published = await client.call<PublishResult>("POST", "/config/publish", {});
  if (!published.changed) {
    io.out(`Applied; version ${published.version} is current (nothing new to publish).`);
    return 0;
  }
  const latest = await client.call<{ items: RolloutView[] }>("GET", "/rollouts?limit=1");
  const rollout = latest.items.find((r) => r.version === published.version);
  io.out(
    rollout
      ? `Applied and published version ${published.version}: rollout ${rollout.id} started (stage "${rollout.plan.stages[0]?.name ?? ""}"; follow it at GET /api/v1/rollouts/${rollout.id}).`
      : `Applied and published version ${published.version} (every edge at once: no rollout plan).`,
  );
  return 0;
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
  if (c.problems.length > 0) {
    io.err(`${file} does not validate (${c.problems.length} problem(s)); no tests ran`);
    return 1;
  }
  printTests(file, c.tests, io);
  return c.tests.failed > 0 ? 1 : 0;
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      control: { type: "string" },
      output: { type: "string", short: "o" },
      help: { type: "boolean", short: "h" },
    },
  });
}
