// The Scheme: declared fields (each with a stable id), enabled functions, aliases and limits.
// parse = lex + parse + type-check; compile = parse + closures; context = a value bag sized to
// the scheme. Errors are returned as values (Result), never thrown.
import type {
  ExecutionContext,
  Filter,
  ListReference,
  ListSet,
  ListType,
  MissingMode,
  Result,
  SchemeDefinition,
  Type,
} from "./api.ts";
import type { FilterAst, Index } from "./ast.ts";
import { type BoolFn, type CompileEnv, compileBool } from "./compiler.ts";
import { Context, type FieldSlot } from "./context.ts";
import { ParseFailure, RuleErrorImpl } from "./errors.ts";
import { FilterGroup } from "./filter-group.ts";
import { format } from "./format.ts";
import { BUILTIN_FUNCTIONS, type FunctionDef, QUANTIFIERS } from "./functions.ts";
import { createListSet, type ListRegistry } from "./lists.ts";
import { type Alias, type FieldInfo, Parser, type ParserConfig } from "./parser.ts";
import { toType } from "./types.ts";

export interface ParseOptions {
  /** Overrides the scheme's implicitAny for this expression. */
  readonly implicitAny?: boolean;
}

export interface CompileOptions extends ParseOptions {
  readonly missing?: MissingMode;
}

const NAME_RE = /^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$/;

export class Scheme {
  readonly fields: readonly string[];
  readonly #slots = new Map<string, FieldSlot>();
  readonly #functions = new Map<string, FunctionDef>();
  readonly #config: ParserConfig;
  readonly #missing: MissingMode;
  readonly #owner: { slots: ReadonlyMap<string, FieldSlot>; fieldCount: number };

  constructor(def: SchemeDefinition) {
    if (
      typeof def !== "object" ||
      def === null ||
      typeof def.fields !== "object" ||
      def.fields === null
    ) {
      throw new Error("scheme definition needs a `fields` object");
    }
    let id = 0;
    for (const [name, t] of Object.entries(def.fields)) {
      if (!NAME_RE.test(name)) throw new Error(`invalid field name ${JSON.stringify(name)}`);
      let type: Type;
      try {
        type = toType(t);
      } catch (err) {
        throw new Error(`field ${JSON.stringify(name)}: ${(err as Error).message}`);
      }
      this.#slots.set(name, { id: id++, name, type });
    }
    const enabled = def.functions ?? [...BUILTIN_FUNCTIONS.keys(), ...QUANTIFIERS];
    for (const name of enabled) {
      if ((QUANTIFIERS as readonly string[]).includes(name)) continue; // keywords, always on
      const f = BUILTIN_FUNCTIONS.get(name);
      if (!f) throw new Error(`unknown function ${JSON.stringify(name)} in scheme definition`);
      if (this.#slots.has(name))
        throw new Error(`${JSON.stringify(name)} is both a field and a function`);
      this.#functions.set(name, f);
    }
    const aliases: Alias[] = [];
    for (const [text, target] of Object.entries(def.aliases ?? {})) {
      aliases.push(this.#parseAlias(text, target));
    }
    aliases.sort((a, b) => b.text.length - a.text.length);
    const maxLength = def.maxLength ?? 4096;
    const maxNesting = def.maxNesting ?? 128;
    if (!Number.isInteger(maxLength) || maxLength < 1)
      throw new Error("maxLength must be a positive integer");
    if (!Number.isInteger(maxNesting) || maxNesting < 1)
      throw new Error("maxNesting must be a positive integer");
    const missing = def.missing ?? "cloudflare";
    if (missing !== "cloudflare" && missing !== "wirefilter") {
      throw new Error(
        `missing must be "cloudflare" or "wirefilter", got ${JSON.stringify(missing)}`,
      );
    }
    this.#missing = missing;
    const fieldInfos = new Map<string, FieldInfo>();
    for (const s of this.#slots.values()) fieldInfos.set(s.name, s);
    this.#config = {
      fields: fieldInfos,
      functions: this.#functions,
      aliases,
      maxNesting,
      implicitAny: def.implicitAny ?? false,
      maxLength,
    };
    this.fields = [...this.#slots.keys()];
    this.#owner = { slots: this.#slots, fieldCount: this.#slots.size };
  }

  /**
   * An alias target is a field followed by indexes, e.g. "identity.groups.name[*]" for the alias
   * "identity.groups[*].name" (Decision 4).
   */
  #parseAlias(text: string, target: string): Alias {
    const m = /^([A-Za-z0-9_.]+)((?:\[(?:\*|[0-9]+|"[^"\\]*")\])*)$/.exec(target);
    const [, field, indexText] = m ?? [];
    const slot = field === undefined ? undefined : this.#slots.get(field);
    if (indexText === undefined || !slot)
      throw new Error(
        `alias ${JSON.stringify(text)}: target ${JSON.stringify(target)} is not a field with indexes`,
      );
    const indexes: Index[] = [];
    for (const [, inner = ""] of indexText.matchAll(/\[([^\]]*)\]/g)) {
      if (inner === "*") indexes.push({ kind: "each" });
      else if (inner.startsWith('"')) indexes.push({ kind: "key", key: inner.slice(1, -1) });
      else indexes.push({ kind: "index", n: Number(inner) });
    }
    if (text.length === 0) throw new Error("empty alias");
    return { text, field: slot, indexes };
  }

  fieldType(name: string): Type | undefined {
    return this.#slots.get(name)?.type;
  }

  /** Names of the functions this scheme enables. */
  get functions(): readonly string[] {
    return [...this.#functions.keys()];
  }

  parse(expr: string, opts?: ParseOptions): Result<FilterAst> {
    if (typeof expr !== "string") {
      return {
        ok: false,
        error: new RuleErrorImpl("EOF", "expression must be a string", "", 0, 0),
      };
    }
    const cfg =
      opts?.implicitAny === undefined || opts.implicitAny === this.#config.implicitAny
        ? this.#config
        : { ...this.#config, implicitAny: opts.implicitAny };
    try {
      return { ok: true, value: new Parser(cfg).parse(expr) };
    } catch (err) {
      if (err instanceof ParseFailure) {
        return {
          ok: false,
          error: new RuleErrorImpl(err.kind, err.message, expr, err.start, err.end),
        };
      }
      if (err instanceof RangeError) {
        // A pathological input exhausted the stack before the nesting limit applied.
        return {
          ok: false,
          error: new RuleErrorImpl(
            "NestingLimitExceeded",
            `expression is nested too deeply: ${err.message}`,
            expr,
            0,
            expr.length,
          ),
        };
      }
      throw err;
    }
  }

  compile(expr: string, opts?: CompileOptions): Result<Filter> {
    const parsed = this.parse(expr, opts);
    if (!parsed.ok) return parsed;
    return { ok: true, value: this.compileAst(parsed.value, opts) };
  }

  /** Compiles an AST produced by this scheme's parse(). */
  compileAst(ast: FilterAst, opts?: CompileOptions): Filter {
    const env = this.#env(opts?.missing ?? this.#missing);
    return new CompiledFilter(ast, compileBool(ast.expr, env), this.#owner, env);
  }

  #env(missing: MissingMode): CompileEnv {
    const slots = this.#slots;
    return {
      fieldId: (name) => {
        const s = slots.get(name);
        if (!s) throw new Error(`field ${name} is not in this scheme`);
        return s.id;
      },
      functions: this.#functions,
      missing,
    };
  }

  /**
   * Filters compiled by this scheme, evaluated together in their order: `first(ctx, from)`
   * gives the first that matches (filter-group.ts: one index for their literal tests).
   */
  group(filters: readonly Filter[]): FilterGroup {
    return new FilterGroup(
      filters.map((f) => {
        if (!(f instanceof CompiledFilter) || f.owner !== this.#owner)
          throw new Error("a filter group takes filters compiled by its own scheme");
        return { expr: f.ast.expr, env: f.env };
      }),
    );
  }

  /** Canonical text of an expression (parses it first). */
  format(expr: string, opts?: ParseOptions): Result<string> {
    const parsed = this.parse(expr, opts);
    return parsed.ok ? { ok: true, value: format(parsed.value) } : parsed;
  }

  context(lists?: ListSet): ExecutionContext & Context {
    return new Context(this.#owner, lists);
  }

  /**
   * Builds a scheme (and its lists) from the JSON shape of rules-cases.json's `scheme`:
   * `{ fields: {name: "Type"}, functions?: [...], lists?: {name: {type, items}} }`.
   */
  static fromJSON(obj: unknown): { scheme: Scheme; lists: ListRegistry } {
    if (typeof obj !== "object" || obj === null) throw new Error("scheme JSON must be an object");
    const o = obj as {
      fields?: Record<string, string>;
      functions?: string[];
      aliases?: Record<string, string>;
      lists?: Record<string, { type: ListType; items: unknown[] }>;
      missing?: MissingMode;
      implicitAny?: boolean;
      maxLength?: number;
      maxNesting?: number;
    };
    const scheme = new Scheme({
      fields: o.fields ?? {},
      functions: o.functions,
      aliases: o.aliases,
      missing: o.missing,
      implicitAny: o.implicitAny,
      maxLength: o.maxLength,
      maxNesting: o.maxNesting,
    });
    const lists = createListSet();
    for (const [name, l] of Object.entries(o.lists ?? {})) {
      if (!l || !Array.isArray(l.items))
        throw new Error(`list ${JSON.stringify(name)} needs an items array`);
      lists.add(name, l.type, l.items);
    }
    return { scheme, lists };
  }
}

class CompiledFilter implements Filter {
  readonly source: string;
  readonly fields: readonly string[];
  readonly mapKeys: ReadonlyMap<string, ReadonlySet<string> | null>;
  readonly lists: readonly ListReference[];
  readonly ast: FilterAst;
  readonly #root: BoolFn;
  readonly owner: object;
  /** How it was compiled (a FilterGroup compiles its atoms the same way). */
  readonly env: CompileEnv;

  constructor(ast: FilterAst, root: BoolFn, owner: object, env: CompileEnv) {
    this.ast = ast;
    this.source = ast.source;
    this.fields = ast.fields;
    this.mapKeys = ast.mapKeys;
    this.lists = ast.lists;
    this.#root = root;
    this.owner = owner;
    this.env = env;
  }

  execute(ctx: ExecutionContext): boolean {
    const c = ctx as Context;
    if (c.owner !== this.owner) {
      throw new Error("execution context belongs to a different scheme");
    }
    return this.#root(c);
  }
}
