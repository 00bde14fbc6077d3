// The rules of a domain list that a hash set cannot answer: exact-only names, wildcards,
// regular expressions, exceptions, `$important`, and rules limited by `$dnstype`, `$client` or
// `$denyallow` (contract/domain-rules.ts reads them). Compiled once per config; at query time
// a list consults them only when it has some (domain-list.ts), and only the rules whose fixed
// part the name can contain: suffix and exact rules are found by the name and its parents, a
// wildcard ending in a fixed domain (`||ad*.example.org^`) by that domain, and only the rest
// (regexes, free-standing wildcards) is tried one by one.

import type { DnsRewrite, DomainPattern, DomainRule } from "@gatehouse/contract";
import { ruleText } from "@gatehouse/contract/domain-rules";
import {
  type CompiledRegex,
  compileRegex,
  compileRegexUnion,
  parseIp,
  regexCacheClears,
} from "@gatehouse/rules";
import { parseCidr } from "../net/ip-address.ts";
import type { DomainSet } from "./domain-set.ts";
import { IpSet } from "./ip-set.ts";
import type { SuffixIndex } from "./suffix-index.ts";

/**
 * Per-query facts the rules of every list of a config read, and what the last match was. Set
 * by the DNS stages around an evaluation (rule-fields.ts); the engine evaluates synchronously,
 * so one object per config serves every query. `qtype` -1: not a DNS query (e.g. the proxy).
 */
export class ListQueryState {
  qtype = -1;
  qtypeName = "";
  clientText: string | undefined = undefined;
  #client: ReturnType<typeof parseIp> | null = null;
  /** The last list verdict that matched: the rule (or listed name) and the name it matched. */
  matchRule = "";
  matchName = "";
  matchRewrite: DnsRewrite | undefined = undefined;
  /** The list set's index of its small plain lists (suffix-index.ts), once they are built. */
  index: SuffixIndex | undefined = undefined;

  begin(qtype: number, qtypeName: string, client: string | undefined): void {
    this.qtype = qtype;
    this.qtypeName = qtypeName;
    this.clientText = client;
    this.#client = null;
    this.clearMatch();
  }

  end(): void {
    this.qtype = -1;
    this.qtypeName = "";
    this.clientText = undefined;
    this.#client = null;
  }

  clearMatch(): void {
    this.matchRule = "";
    this.matchName = "";
    this.matchRewrite = undefined;
  }

  client(): ReturnType<typeof parseIp> {
    if (this.#client === null)
      this.#client = this.clientText ? parseIp(this.clientText) : undefined;
    return this.#client;
  }
}

/**
 * A rule ready to test: the rule as parsed (pattern and modifiers) and what it needs compiled.
 * Its canonical text, for the query log, is made when it matches (ruleText), not kept: tens of
 * thousands of rules would hold as many strings (docs/benchmarks.md, a mixed list's memory).
 */
export interface CompiledRule {
  readonly rule: DomainRule;
  readonly regex: CompiledRegex | undefined;
  readonly client:
    | { readonly include: IpSet | undefined; readonly exclude: IpSet | undefined }
    | undefined;
}

/** The NFA budget of one list regex. */
const RULE_REGEX_LIMIT = 20_000;

/**
 * Compile one parsed rule; a regex our engine refuses, or a bad CIDR, is an error string. The
 * regex bypasses the compile cache: the rule holds it, or (in a union, RuleIndex.seal) drops it.
 */
export function compileRule(rule: DomainRule): CompiledRule | string {
  let regex: CompiledRegex | undefined;
  if (rule.pattern.kind === "regex") {
    const r = compileRegex(rule.pattern.source, { sizeLimit: RULE_REGEX_LIMIT, cache: false });
    if (!r.ok) return `regular expression: ${r.message}`;
    regex = r.value;
  }
  let client: CompiledRule["client"];
  if (rule.client) {
    try {
      const set = (xs: readonly string[]) =>
        xs.length > 0 ? new IpSet(xs.map(parseCidr)) : undefined;
      client = { include: set(rule.client.include), exclude: set(rule.client.exclude) };
    } catch (e) {
      return `$client: ${(e as Error).message}`;
    }
  }
  return { rule, regex, client };
}

/** Full-string glob match: `*` is any run of characters. Iterative, O(|p|·|s|) at worst. */
function globMatch(p: string, s: string, sFrom = 0, prefixOnly = false, sEnd = s.length): boolean {
  let pi = 0;
  let si = sFrom;
  let star = -1;
  let mark = 0;
  const pn = p.length;
  const sn = sEnd;
  while (si < sn) {
    if (pi < pn && p.charCodeAt(pi) === 42) {
      star = pi++;
      mark = si;
    } else if (pi < pn && p.charCodeAt(pi) === s.charCodeAt(si)) {
      pi++;
      si++;
    } else if (pi === pn && prefixOnly) {
      return true;
    } else if (star >= 0) {
      pi = star + 1;
      si = ++mark;
    } else return false;
  }
  while (pi < pn && p.charCodeAt(pi) === 42) pi++;
  return pi === pn;
}

function isSubdomainOrSelf(name: string, of: string): boolean {
  return (
    name === of ||
    (name.length > of.length &&
      name.charCodeAt(name.length - of.length - 1) === 46 &&
      name.endsWith(of))
  );
}

function patternMatches(r: CompiledRule, name: string): boolean {
  const p = r.rule.pattern;
  switch (p.kind) {
    case "suffix":
      return isSubdomainOrSelf(name, p.name);
    case "exact":
      return name === p.name;
    case "regex":
      return r.regex?.test(name) === true;
    case "wildcard": {
      if (p.anchor === "start") return globMatch(p.glob, name, 0, !p.end);
      if (p.anchor === "domain") {
        for (let i = 0; ; ) {
          if (globMatch(p.glob, name, i, !p.end)) return true;
          const dot = name.indexOf(".", i);
          if (dot < 0) return false;
          i = dot + 1;
        }
      }
      // Unanchored: anywhere in the name (a leading `*`), up to its end only with `end`.
      for (let i = 0; i <= name.length; i++) if (globMatch(p.glob, name, i, !p.end)) return true;
      return false;
    }
  }
}

function conditionsHold(r: CompiledRule, name: string, q: ListQueryState): boolean {
  const { dnstype, denyallow } = r.rule;
  if (dnstype) {
    const t = q.qtypeName;
    if (dnstype.include.length > 0 && !dnstype.include.includes(t)) return false;
    if (t !== "" && dnstype.exclude.includes(t)) return false;
  }
  if (r.client) {
    const ip = q.client();
    if (r.client.include && !(ip && r.client.include.has(ip))) return false;
    if (r.client.exclude && ip && r.client.exclude.has(ip)) return false;
  }
  if (denyallow) for (const d of denyallow) if (isSubdomainOrSelf(name, d)) return false;
  return true;
}

/** The longest fixed domain a wildcard's match must end with (`ad*.example.org` → example.org). */
function fixedTail(p: DomainPattern): string | undefined {
  if (p.kind !== "wildcard" || !p.end) return undefined;
  const star = p.glob.lastIndexOf("*");
  const tail = p.glob.slice(star + 1);
  const dot = tail.indexOf(".");
  if (dot < 0 || dot === tail.length - 1) return undefined;
  return tail.slice(dot + 1);
}

/**
 * How a name rule kept in a hash set applies: the name and its subdomains (`||x^`), the name
 * only (`|x^`), or only its subdomains (`||*.x^`).
 */
export type NameRuleKind = "suffix" | "exact" | "sub";

/**
 * The shape a rule shares with every rule of the same kind and modifiers (its text with the
 * name left out), when only its name sets it apart from them: such rules are kept as names in
 * one hash set per shape (NameRules) instead of an object each. Undefined for every other rule.
 */
export function nameRuleShape(
  rule: DomainRule,
): { key: string; kind: NameRuleKind; name: string } | undefined {
  if (rule.badfilter || rule.client || rule.denyallow || rule.rewrite) return undefined;
  const p = rule.pattern;
  let kind: NameRuleKind;
  let name: string;
  if (p.kind === "suffix" || p.kind === "exact") {
    kind = p.kind;
    name = p.name;
  } else if (
    p.kind === "wildcard" &&
    p.anchor === "domain" &&
    p.end &&
    p.glob.startsWith("*.") &&
    p.glob.indexOf("*", 1) < 0
  ) {
    kind = "sub";
    name = p.glob.slice(2);
  } else return undefined;
  // A set holds names of 1 to 253 bytes (one byte a char: the contract's names and globs are ASCII).
  if (name.length === 0 || name.length > 253) return undefined;
  return { key: ruleText(shapeRule(rule, kind, "")), kind, name };
}

/** `template` (a rule of the shape) for the name `name`. */
function shapeRule(template: DomainRule, kind: NameRuleKind, name: string): DomainRule {
  const pattern: DomainPattern =
    kind === "sub"
      ? { kind: "wildcard", glob: `*.${name}`, anchor: "domain", end: true }
      : { kind, name };
  return { ...template, pattern };
}

/** Rules of one shape: their names in a hash set, their modifiers once (NameRuleShape). */
export interface NameRules {
  readonly kind: NameRuleKind;
  /** A rule of the shape (its pattern's name is any of them). */
  readonly template: DomainRule;
  readonly names: DomainSet;
}

/**
 * Wildcards of one shape that end in a fixed domain (`||ad*.x.example^`: `ad*` then
 * `x.example`), with no modifier but `$important`/`$dnstype`: each kept as two strings, its
 * head (`ad*`) under its tail, not an object each (tens of thousands took ~450 bytes each).
 */
interface GlobShape {
  /** A rule of the shape (its glob is any of them), compiled once for its conditions. */
  readonly compiled: CompiledRule;
  /** Heads by tail; most tails have one (held as it is, an array from the second on). */
  readonly byTail: Map<string, string | string[]>;
}

/** The head and tail of a wildcard that a GlobShape can hold, else undefined. */
function globParts(r: CompiledRule): { head: string; tail: string } | undefined {
  const { rule } = r;
  const p = rule.pattern;
  if (p.kind !== "wildcard" || p.anchor !== "domain" || !p.end) return undefined;
  if (r.client || rule.denyallow || rule.rewrite || rule.badfilter) return undefined;
  const tail = fixedTail(p);
  if (tail === undefined) return undefined;
  return { head: p.glob.slice(0, p.glob.length - tail.length - 1), tail };
}

/**
 * `s` copied into a string of its own. A head or tail is a slice of its rule's glob, itself a
 * slice of the list line: kept, it would keep both alive (in process, a 1M mixed list's 20,000
 * wildcards held 3.4 MB of heap, 2.6 MB with their parts copied).
 */
function ownString(s: string): string {
  return Buffer.from(s, "latin1").toString("latin1");
}

function globRule(template: DomainRule, head: string, tail: string): DomainRule {
  return {
    ...template,
    pattern: { kind: "wildcard", glob: `${head}.${tail}`, anchor: "domain", end: true },
  };
}

/** Fewer general regexes than this are tried one by one (RuleIndex.seal). */
const UNION_MIN = 4;
/** The NFA budget of a group's regex union (each regex has 20,000); over it, one by one. */
const UNION_SIZE_LIMIT = 2_000_000;
/** The union's cache may be cleared this many times per UNION_CHECK_EVERY searches (checkUnion). */
const UNION_MAX_CLEARS = 8;
const UNION_CHECK_EVERY = 4096;
/**
 * A union's regexes in chunks of about √n / 2 (within these bounds), each chunk a union too:
 * 16 for 1,000, so a regex hit costs at most 63 chunk tests and 16 compiles (per hit, every hit
 * another rule: chunks of 32 took 56 µs, of 16 40, of 8 38; docs/benchmarks.md).
 */
const CHUNK_MIN = 4;
const CHUNK_MAX = 32;
/** Single regexes of a union a group keeps compiled for its rare path, most recently used. */
const SINGLES_KEPT = 64;
/** Stands for a union member whose regex no longer compiles (it did when the list was built). */
const NEVER: CompiledRegex = { test: () => false, replaceFirst: (s) => s };

function regexSource(r: CompiledRule): string {
  return r.rule.pattern.kind === "regex" ? r.rule.pattern.source : "";
}

/** One group of rules (say, the important exceptions), indexed for lookup by name. */
export class RuleIndex {
  /**
   * suffix and exact rules by their name; wildcards by the fixed domain they end with. Most
   * names have one rule: held as it is, an array only from the second on (no array per rule).
   */
  private readonly byName = new Map<string, CompiledRule | CompiledRule[]>();
  private readonly general: CompiledRule[] = [];
  /**
   * The general rules' regexes as one program (seal()): a name it does not match matches none of
   * them, so only `generalRest` (the general rules not in it, in order) is tried; a name it
   * matches tries every general rule in order, as without it (the rule found is the same).
   */
  private union: CompiledRegex | undefined = undefined;
  private generalRest: CompiledRule[] = [];
  /**
   * The union's regexes are not held compiled one by one (1,000 took ~5 MB): a general rule in
   * the union is kept without its regex, `chunkOf` says which chunk of the union holds it (-1:
   * not in the union), and a chunk's own union (undefined if it did not build) says, on a name
   * the whole union matches, whether one of its regexes can; only then are its singles tried,
   * compiled on first use and kept in `singles` (bounded, least recently used dropped).
   */
  private chunkOf = new Int32Array(0);
  private chunks: (CompiledRegex | undefined)[] = [];
  /** Per search on the rare path: each chunk 0 not tested yet, 1 matches, 2 does not. */
  private chunkSeen = new Uint8Array(0);
  private readonly singles = new Map<CompiledRule, CompiledRegex>();
  /** Union searches left until its cache is checked, and its clears at the last check. */
  private unionCountdown = UNION_CHECK_EVERY;
  private unionClears = 0;
  /** Name rules by shape, each with its template compiled once (for its conditions). */
  private readonly sets: { readonly rules: NameRules; readonly compiled: CompiledRule }[] = [];
  /** Wildcards with a fixed tail, by shape (their text without the glob). */
  private readonly globs = new Map<string, GlobShape>();
  size = 0;

  /** Rules of one shape held as a set of names (nameRuleShape). */
  addNames(rules: NameRules): void {
    if (rules.names.size === 0) return;
    this.size += rules.names.size;
    this.sets.push({
      rules,
      compiled: { rule: rules.template, regex: undefined, client: undefined },
    });
  }

  add(r: CompiledRule): void {
    this.size++;
    const parts = globParts(r);
    if (parts !== undefined) {
      const key = ruleText(globRule(r.rule, "", ""));
      let shape = this.globs.get(key);
      if (shape === undefined) {
        shape = {
          compiled: { rule: r.rule, regex: undefined, client: undefined },
          byTail: new Map(),
        };
        this.globs.set(key, shape);
      }
      const heads = shape.byTail.get(parts.tail);
      const head = ownString(parts.head);
      if (heads === undefined) shape.byTail.set(ownString(parts.tail), head);
      else if (Array.isArray(heads)) heads.push(head);
      else shape.byTail.set(parts.tail, [heads, head]);
      return;
    }
    const p = r.rule.pattern;
    const key = p.kind === "suffix" || p.kind === "exact" ? p.name : fixedTail(p);
    if (key === undefined) {
      this.general.push(r);
      return;
    }
    const at = this.byName.get(key);
    if (at === undefined) this.byName.set(key, r);
    else if (Array.isArray(at)) at.push(r);
    else this.byName.set(key, [at, r]);
  }

  /**
   * Called once every rule is added: the general rules' regexes (at least UNION_MIN) become one
   * program, so a name none of them matches costs one search instead of one per regex.
   */
  seal(): void {
    const general = this.general;
    const at: number[] = [];
    for (let i = 0; i < general.length; i++)
      if (general[i]?.rule.pattern.kind === "regex") at.push(i);
    if (at.length < UNION_MIN) return;
    const u = compileRegexUnion(
      at.map((i) => regexSource(general[i] as CompiledRule)),
      { sizeLimit: UNION_SIZE_LIMIT },
    );
    if (!u.ok) return;
    const left = new Set(u.left);
    const members = at.filter((_, k) => !left.has(k));
    const size = Math.min(CHUNK_MAX, Math.max(CHUNK_MIN, Math.ceil(Math.sqrt(members.length) / 2)));
    const chunkOf = new Int32Array(general.length).fill(-1);
    const chunks: (CompiledRegex | undefined)[] = [];
    for (let k = 0; k < members.length; k += size) {
      const part = members.slice(k, k + size);
      const c = compileRegexUnion(
        part.map((i) => regexSource(general[i] as CompiledRule)),
        { sizeLimit: UNION_SIZE_LIMIT },
      );
      for (const i of part) {
        chunkOf[i] = chunks.length;
        const r = general[i] as CompiledRule;
        // A new object: the rule as added (with its regex) may be shared (tests add it twice).
        general[i] = { rule: r.rule, regex: undefined, client: r.client };
      }
      chunks.push(c.ok && c.left.length === 0 ? c.value : undefined);
    }
    this.union = u.value;
    this.chunkOf = chunkOf;
    this.chunks = chunks;
    this.chunkSeen = new Uint8Array(chunks.length);
    this.generalRest = general.filter((_, i) => chunkOf[i] === -1);
  }

  /** Whether the group's regexes are searched as one union now (false: one by one). */
  get unionActive(): boolean {
    return this.union !== undefined;
  }

  /** The first rule matching `name` whose conditions hold, or undefined. */
  find(name: string, q: ListQueryState): CompiledRule | undefined {
    if (this.size === 0) return undefined;
    if (this.byName.size > 0) {
      for (let i = 0; ; ) {
        const rules = this.byName.get(i === 0 ? name : name.slice(i));
        if (rules !== undefined) {
          if (!Array.isArray(rules)) {
            if (patternMatches(rules, name) && conditionsHold(rules, name, q)) return rules;
          } else
            for (const r of rules)
              if (patternMatches(r, name) && conditionsHold(r, name, q)) return r;
        }
        const dot = name.indexOf(".", i);
        if (dot < 0) break;
        i = dot + 1;
      }
    }
    for (const shape of this.globs.values()) {
      const found = this.findGlob(shape, name, q);
      if (found !== undefined) return found;
    }
    for (const { rules, compiled } of this.sets) {
      if (!conditionsHold(compiled, name, q)) continue;
      const set = rules.names;
      let at: number;
      if (rules.kind === "exact") at = set.has(name) ? 0 : -1;
      else if (rules.kind === "suffix") at = set.suffixAt(name);
      else {
        const dot = name.indexOf(".");
        at = dot < 0 ? -1 : set.suffixAt(name, dot + 1);
      }
      // Made only on a match (the query log names the rule).
      if (at >= 0)
        return { ...compiled, rule: shapeRule(rules.template, rules.kind, name.slice(at)) };
    }
    if (this.union !== undefined && --this.unionCountdown === 0) this.checkUnion(this.union);
    const union = this.union;
    if (union?.test(name)) return this.findInUnion(name, q);
    const general = union === undefined ? this.general : this.generalRest;
    for (const r of general) if (patternMatches(r, name) && conditionsHold(r, name, q)) return r;
    return undefined;
  }

  /**
   * The rare path: the union matched `name`. The general rules in order, as the per-rule loop
   * tries them; a rule of the union only when its chunk matches and its conditions hold.
   */
  private findInUnion(name: string, q: ListQueryState): CompiledRule | undefined {
    const { general, chunkOf, chunks } = this;
    const seen = this.chunkSeen;
    seen.fill(0);
    for (let i = 0; i < general.length; i++) {
      const r = general[i] as CompiledRule;
      const c = chunkOf[i] ?? -1;
      if (c < 0) {
        if (patternMatches(r, name) && conditionsHold(r, name, q)) return r;
        continue;
      }
      let s = seen[c];
      if (s === 0) {
        const chunk = chunks[c];
        s = chunk === undefined || chunk.test(name) ? 1 : 2;
        seen[c] = s;
      }
      if (s === 1 && conditionsHold(r, name, q) && this.single(r).test(name)) return r;
    }
    return undefined;
  }

  /** The compiled regex of a union member, from `singles` or compiled now (not cached globally). */
  private single(r: CompiledRule): CompiledRegex {
    const singles = this.singles;
    let re = singles.get(r);
    if (re !== undefined) {
      singles.delete(r);
      singles.set(r, re);
      return re;
    }
    const c = compileRegex(regexSource(r), { sizeLimit: RULE_REGEX_LIMIT, cache: false });
    re = c.ok ? c.value : NEVER;
    if (singles.size >= SINGLES_KEPT) {
      const oldest = singles.keys().next();
      if (!oldest.done) singles.delete(oldest.value);
    }
    singles.set(r, re);
    return re;
  }

  /**
   * The union's lazy DFA keeps its states in a bounded cache, cleared when full. When names
   * fill it faster than UNION_MAX_CLEARS times per UNION_CHECK_EVERY searches, each search
   * rebuilds states of up to thousands of NFA states: then the regexes are tried one by one
   * again (as before the union; the NFA simulation of a 1,000-way union is slower still).
   */
  private checkUnion(union: CompiledRegex): void {
    this.unionCountdown = UNION_CHECK_EVERY;
    const clears = regexCacheClears(union);
    if (clears - this.unionClears > UNION_MAX_CLEARS) {
      // Every member compiled again, held by its rule as before the union (a one-off cost).
      const general = this.general;
      for (let i = 0; i < general.length; i++) {
        if ((this.chunkOf[i] ?? -1) < 0) continue;
        const r = general[i] as CompiledRule;
        general[i] = { rule: r.rule, regex: this.single(r), client: r.client };
      }
      this.union = undefined;
      this.generalRest = general;
      this.chunkOf = new Int32Array(0);
      this.chunks = [];
      this.chunkSeen = new Uint8Array(0);
      this.singles.clear();
    }
    this.unionClears = clears;
  }

  /** A wildcard of `shape` matching `name`: its tail a parent of the name, its head what is before. */
  private findGlob(shape: GlobShape, name: string, q: ListQueryState): CompiledRule | undefined {
    if (!conditionsHold(shape.compiled, name, q)) return undefined;
    for (let dot = name.indexOf("."); dot >= 0; dot = name.indexOf(".", dot + 1)) {
      const heads = shape.byTail.get(name.slice(dot + 1));
      if (heads === undefined) continue;
      // The glob matches from a label start (`||`) up to the dot before the tail.
      for (const head of Array.isArray(heads) ? heads : [heads])
        for (let k = 0; k < dot; k = name.indexOf(".", k) + 1) {
          if (globMatch(head, name, k, false, dot))
            return {
              ...shape.compiled,
              rule: globRule(shape.compiled.rule, head, name.slice(dot + 1)),
            };
          if (name.indexOf(".", k) >= dot) break;
        }
    }
    return undefined;
  }

  /** Whether some rule depends on the client's address (then answers are per client). */
  get readsClient(): boolean {
    for (const rules of [...this.byName.values(), this.general])
      for (const r of Array.isArray(rules) ? rules : [rules]) if (r.client) return true;
    return false;
  }
}
