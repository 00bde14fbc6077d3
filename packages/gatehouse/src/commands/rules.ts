// `gatehouse rules check|fmt|eval`: the rules engine from the command line, for policy authors
// and for conformance suites run from outside (`eval --batch`).

import { readFile } from "node:fs/promises";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { SCHEMES } from "@gatehouse/contract/schemes";
import {
  type ExecutionContext,
  type Filter,
  type ListSet,
  type MissingMode,
  Scheme,
  type Type,
  toBytes,
} from "@gatehouse/rules";

export interface Io {
  readonly stdin: NodeJS.ReadableStream;
  out(line: string): void;
  err(line: string): void;
}

const USAGE = `usage:
  gatehouse rules check [--scheme dns|http|net|FILE.json] EXPR|-
  gatehouse rules fmt [--scheme dns|http|net|FILE.json] EXPR|-
  gatehouse rules eval --scheme dns|http|net|FILE.json [--missing cloudflare|wirefilter] --expr EXPR --fields JSON
  gatehouse rules eval --batch --scheme FILE.json   (NDJSON on stdin: {"expression","fields","missing"})`;

interface LoadedScheme {
  readonly scheme: Scheme;
  readonly lists: ListSet | undefined;
}

async function loadScheme(spec: string | undefined): Promise<LoadedScheme> {
  const name = spec ?? "dns";
  if (name === "dns" || name === "http" || name === "net")
    return { scheme: new Scheme(SCHEMES[name]), lists: undefined };
  const json: unknown = JSON.parse(await readFile(name, "utf8"));
  const { scheme, lists } = Scheme.fromJSON(json);
  return { scheme, lists };
}

async function readExpression(arg: string | undefined, io: Io): Promise<string | undefined> {
  if (arg === undefined) return undefined;
  if (arg !== "-") return arg;
  const chunks: Buffer[] = [];
  for await (const c of io.stdin)
    chunks.push(typeof c === "string" ? Buffer.from(c) : (c as Buffer));
  // A trailing newline from `echo` is not part of the expression.
  return Buffer.concat(chunks)
    .toString("utf8")
    .replace(/\r?\n$/, "");
}

/** JSON field values → the engine's representation, guided by the field's declared type. */
function convert(value: unknown, type: Type): unknown {
  switch (type.kind) {
    case "Bytes":
      if (typeof value !== "string")
        throw new Error(`expected a string for a Bytes value, got ${JSON.stringify(value)}`);
      return toBytes(value);
    case "Int":
      if (typeof value !== "number" || !Number.isSafeInteger(value))
        throw new Error(`expected an integer, got ${JSON.stringify(value)}`);
      return value;
    case "Bool":
      if (typeof value !== "boolean")
        throw new Error(`expected true or false, got ${JSON.stringify(value)}`);
      return value;
    case "Ip":
      if (typeof value !== "string")
        throw new Error(`expected an IP address string, got ${JSON.stringify(value)}`);
      return value;
    case "Array":
      if (!Array.isArray(value)) throw new Error(`expected an array, got ${JSON.stringify(value)}`);
      return value.map((v) => convert(v, type.of));
    case "Map": {
      if (value === null || typeof value !== "object" || Array.isArray(value))
        throw new Error(`expected an object for a Map value, got ${JSON.stringify(value)}`);
      const m = new Map<string, unknown>();
      for (const [k, v] of Object.entries(value)) m.set(toBytes(k), convert(v, type.of));
      return m;
    }
  }
}

function fill(ctx: ExecutionContext, scheme: Scheme, fields: unknown): void {
  ctx.reset();
  if (fields === undefined || fields === null) return;
  if (typeof fields !== "object" || Array.isArray(fields))
    throw new Error("fields must be a JSON object");
  for (const [name, value] of Object.entries(fields)) {
    const type = scheme.fieldType(name);
    if (type === undefined) throw new Error(`unknown field ${JSON.stringify(name)}`);
    if (value === null) continue; // JSON null = missing
    ctx.set(name, convert(value, type));
  }
}

function parseMissing(v: unknown): MissingMode {
  if (v === undefined || v === "cloudflare") return "cloudflare";
  if (v === "wirefilter" || v === "wf-default") return "wirefilter";
  throw new Error(`--missing must be cloudflare or wirefilter, not ${JSON.stringify(v)}`);
}

/** Compiled filters memoized per (missing mode, expression) for batch runs. */
class FilterCache {
  readonly #scheme: Scheme;
  readonly #cache = new Map<string, ReturnType<Scheme["compile"]>>();
  constructor(scheme: Scheme) {
    this.#scheme = scheme;
  }
  get(expression: string, missing: MissingMode): ReturnType<Scheme["compile"]> {
    const key = `${missing}\u0000${expression}`;
    let r = this.#cache.get(key);
    if (r === undefined) {
      r = this.#scheme.compile(expression, { missing });
      if (this.#cache.size > 10_000) this.#cache.clear();
      this.#cache.set(key, r);
    }
    return r;
  }
}

async function runBatch(loaded: LoadedScheme, io: Io): Promise<number> {
  const cache = new FilterCache(loaded.scheme);
  const ctx = loaded.scheme.context();
  ctx.lists = loaded.lists;
  const rl = createInterface({ input: io.stdin, crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of rl) {
    if (line.trim() === "") continue;
    let out: unknown;
    try {
      const req = JSON.parse(line) as { expression?: unknown; fields?: unknown; missing?: unknown };
      if (typeof req.expression !== "string") throw new Error("expression must be a string");
      const compiled = cache.get(req.expression, parseMissing(req.missing));
      if (!compiled.ok) out = { error: compiled.error.toJSON() };
      else {
        fill(ctx, loaded.scheme, req.fields);
        out = { result: (compiled.value as Filter).execute(ctx) };
      }
    } catch (e) {
      out = { error: { kind: "InvalidInput", message: (e as Error).message, span: [0, 0] } };
    }
    io.out(JSON.stringify(out));
  }
  return 0;
}

export async function rulesCommand(argv: readonly string[], io: Io): Promise<number> {
  // Options may come before the subcommand too (`gatehouse rules --help`).
  const { values, positionals: words } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      scheme: { type: "string" },
      missing: { type: "string" },
      expr: { type: "string" },
      fields: { type: "string" },
      batch: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  const [sub, ...positionals] = words;
  if (values.help || sub === undefined || sub === "help") {
    io.out(USAGE);
    return values.help || sub === "help" ? 0 : 2;
  }
  const loaded = await loadScheme(values.scheme);
  switch (sub) {
    case "check":
    case "fmt": {
      const expr = await readExpression(positionals[0] ?? values.expr, io);
      if (expr === undefined) {
        io.err(USAGE);
        return 2;
      }
      if (sub === "check") {
        const r = loaded.scheme.compile(expr);
        if (r.ok) io.out("ok");
        else io.out(r.error.render());
        return r.ok ? 0 : 1;
      }
      const f = loaded.scheme.format(expr);
      if (f.ok) io.out(f.value);
      else io.out(f.error.render());
      return f.ok ? 0 : 1;
    }
    case "eval": {
      if (values.batch) return runBatch(loaded, io);
      const expr = values.expr ?? positionals[0];
      if (expr === undefined) {
        io.err(USAGE);
        return 2;
      }
      const r = loaded.scheme.compile(expr, { missing: parseMissing(values.missing) });
      if (!r.ok) {
        io.out(r.error.render());
        return 1;
      }
      const ctx = loaded.scheme.context();
      ctx.lists = loaded.lists;
      fill(ctx, loaded.scheme, values.fields === undefined ? {} : JSON.parse(values.fields));
      io.out(String(r.value.execute(ctx)));
      return 0;
    }
    default:
      io.err(`unknown rules command ${JSON.stringify(sub)}\n${USAGE}`);
      return 2;
  }
}
