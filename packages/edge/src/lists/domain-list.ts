// A domain list as the rules see it (`$name`): names in a compact hash set (domain-set.ts), the
// list's own `@@` exceptions in a second one (also served as `$name.allow`), and any rule a hash
// set cannot answer in compiled rule groups (domain-rules.ts), consulted only when the list
// has them. The verdict follows AdGuard Home: an important exception beats an important block,
// which beats an exception, which beats a block.

import type { DomainRule } from "@gatehouse/contract";
import { badfilterTarget, parseDomainLine, ruleText } from "@gatehouse/contract/domain-rules";
import type { BytesValue, ListMatcher } from "@gatehouse/rules";
import type { Steps } from "../slices.ts";
import {
  type CompiledRule,
  compileRule,
  type ListQueryState,
  type NameRuleKind,
  type NameRules,
  nameRuleShape,
  RuleIndex,
} from "./domain-rules.ts";
import { DomainSet, DomainSetBuilder, type SharedDomainSet } from "./domain-set.ts";
import { Lookup } from "./suffix-index.ts";

/** What a list's lines amounted to, with the first few that could not be used. */
export interface DomainParseStats {
  /** Lines that produced a name or a rule. */
  accepted: number;
  /** Lines that do not parse (or hold an invalid name, or a regex our engine refuses). */
  rejected: number;
  /** Well-formed rules a DNS filter cannot apply (`$third-party`, URL paths, …). */
  unsupported: number;
  /** The first rejected lines: 1-based line number (item number for inline items), reason. */
  samples: { line: number; text: string; reason: string }[];
}

const MAX_SAMPLES = 10;

export function newParseStats(): DomainParseStats {
  return { accepted: 0, rejected: 0, unsupported: 0, samples: [] };
}

export function noteRejected(
  stats: DomainParseStats,
  line: number,
  text: string,
  reason: string,
): void {
  stats.rejected++;
  if (stats.samples.length < MAX_SAMPLES)
    stats.samples.push({ line, text: text.slice(0, 200), reason: reason.slice(0, 300) });
}

/** A rule as the list's text gave it (its canonical text is ruleText(rule)). */
interface SourceRule {
  readonly rule: DomainRule;
}

/**
 * A domain list as it crosses to a worker thread: its two sets in shared memory, and the rules
 * a hash set cannot answer as parsed (plain data: each thread compiles its own matchers).
 */
export interface SharedDomainList {
  readonly block: SharedDomainSet;
  readonly allow: SharedDomainSet;
  readonly rules: readonly SourceRule[];
  /** The name rules of each shape (NameRules), their sets in shared memory. */
  readonly names: readonly {
    readonly kind: NameRuleKind;
    readonly template: DomainRule;
    readonly names: SharedDomainSet;
  }[];
}

type RuleGroups = {
  block: RuleIndex;
  exception: RuleIndex;
  importantBlock: RuleIndex;
  importantException: RuleIndex;
};

/** The group a rule belongs to, by its `@@` and `$important`. */
function groupOf(groups: RuleGroups, rule: DomainRule): RuleIndex {
  return rule.exception
    ? rule.important
      ? groups.importantException
      : groups.exception
    : rule.important
      ? groups.importantBlock
      : groups.block;
}

/**
 * Rules compiled into their four groups, with the name rules held as sets; `rejected` hears of
 * each one our engine refuses.
 */
function* compileGroups<R extends SourceRule>(
  rules: Iterable<R>,
  names: readonly NameRules[],
  rejected: (r: R, why: string) => void,
): Steps<RuleGroups> {
  const groups = {
    block: new RuleIndex(),
    exception: new RuleIndex(),
    importantBlock: new RuleIndex(),
    importantException: new RuleIndex(),
  };
  let n = 0;
  for (const r of rules) {
    if ((++n & 0x3ff) === 0) yield;
    const { rule } = r;
    const c = compileRule(rule);
    if (typeof c === "string") {
      rejected(r, c);
      continue;
    }
    groupOf(groups, rule).add(c);
  }
  for (const n of names) groupOf(groups, n.template).addNames(n);
  for (const g of Object.values(groups)) g.seal();
  return groups;
}

/** Collects a list's names and rules while its lines are parsed. */
export class DomainListBuilder {
  readonly block: DomainSetBuilder;
  readonly allow: DomainSetBuilder;
  private readonly rules: { rule: DomainRule; line: number }[] = [];
  /**
   * Rules that differ from others of their shape only by their name (`|x^`, `||x^$important`,
   * `||x^$dnstype=AAAA`, `||*.x^`, …), by shape (nameRuleShape): a set of names each, not an
   * object per rule (tens of thousands of rules took ~330 bytes each as objects).
   */
  private readonly nameRules = new Map<
    string,
    { kind: NameRuleKind; template: DomainRule; names: DomainSetBuilder }
  >();
  private readonly badfilter = new Set<string>();
  private readonly shared: boolean;

  /**
   * `expect`: about how many bytes and names the list holds (DomainSetBuilder). `shared`: the
   * list is built for worker threads (its sets in shared memory, its rules kept as parsed:
   * DomainList.toShared).
   */
  constructor(expect?: { readonly bytes: number; readonly names: number }, shared = false) {
    this.shared = shared;
    this.block = new DomainSetBuilder(expect, shared);
    this.allow = new DomainSetBuilder(undefined, shared);
  }

  /** A rule that is not a plain name; an `@@||name^` exception goes to the allow set. */
  addRule(rule: DomainRule, line: number): void {
    if (rule.badfilter) {
      this.badfilter.add(badfilterTarget(rule));
      return;
    }
    const p = rule.pattern;
    if (
      rule.exception &&
      p.kind === "suffix" &&
      !rule.important &&
      !rule.dnstype &&
      !rule.client &&
      !rule.denyallow &&
      !rule.rewrite
    ) {
      this.allow.addString(p.name);
      return;
    }
    const shape = nameRuleShape(rule);
    if (shape) {
      let e = this.nameRules.get(shape.key);
      if (e === undefined) {
        e = {
          kind: shape.kind,
          template: rule,
          names: new DomainSetBuilder({ bytes: 1 << 12, names: 1 << 7 }, this.shared),
        };
        this.nameRules.set(shape.key, e);
      }
      e.names.addString(shape.name);
      return;
    }
    this.rules.push({ rule, line });
  }

  /** Build the list; rules our engine refuses (a regex too large) are counted as rejected. */
  *buildSteps(name: string, state: ListQueryState, stats: DomainParseStats): Steps<DomainList> {
    const off = this.badfilter.size > 0 ? this.badfilter : undefined;
    // `||x^$badfilter` disables the plain name x too (its text is `||x^`).
    const plainOff =
      off && new Set([...off].filter((t) => /^\|\|[^*^$]+\^$/.test(t)).map((t) => t.slice(2, -1)));
    const plainAllowOff =
      off &&
      new Set([...off].filter((t) => /^@@\|\|[^*^$]+\^$/.test(t)).map((t) => t.slice(4, -1)));
    const block = yield* this.block.buildSteps(plainOff);
    const allow = yield* this.allow.buildSteps(plainAllowOff);
    // A `$badfilter` of a name rule takes its name out of its shape's set.
    const namesOff = new Map<string, Set<string>>();
    for (const t of off ?? []) {
      const line = parseDomainLine(t, "auto");
      const shape = line.kind === "rule" ? nameRuleShape(line.rule) : undefined;
      if (shape === undefined || !this.nameRules.has(shape.key)) continue;
      const names = namesOff.get(shape.key) ?? new Set<string>();
      namesOff.set(shape.key, names);
      names.add(shape.name);
    }
    const names: NameRules[] = [];
    for (const [key, e] of this.nameRules)
      names.push({
        kind: e.kind,
        template: e.template,
        names: yield* e.names.buildSteps(namesOff.get(key)),
      });
    this.nameRules.clear();
    const kept = off ? this.rules.filter((r) => !off.has(ruleText(r.rule))) : this.rules;
    const failed = new Set<SourceRule>();
    const groups = yield* compileGroups(kept, names, (r, why) => {
      stats.accepted--;
      noteRejected(stats, r.line, ruleText(r.rule), why);
      failed.add(r);
    });
    const source = this.shared
      ? kept.filter((r) => !failed.has(r)).map(({ rule }) => ({ rule }))
      : undefined;
    this.rules.length = 0;
    return new DomainList(name, block, allow, groups, state, source, names);
  }
}

const DOT = 46;

/** True when `values` is a name followed by each of its parents (what `domainsOf` returns). */
function isNameChain(values: readonly string[]): boolean {
  const n = values.length;
  const last = values[n - 1];
  if (last === undefined || last.indexOf(".") >= 0) return false;
  for (let i = 0; i + 1 < n; i++) {
    const a = values[i];
    const b = values[i + 1];
    if (a === undefined || b === undefined) return false;
    const cut = a.length - b.length - 1;
    if (cut < 1 || a.charCodeAt(cut) !== DOT || a.indexOf(".") !== cut || !a.endsWith(b))
      return false;
  }
  return true;
}

export class DomainList implements ListMatcher<BytesValue> {
  readonly name: string;
  /** Names listed with their subdomains (plain, hosts, `||x^`). */
  readonly block: DomainSet;
  /** The list's `@@||x^` exceptions (also `$name.allow`). */
  readonly allow: DomainSet;
  private readonly blockRules: RuleIndex;
  private readonly exceptionRules: RuleIndex;
  private readonly importantBlock: RuleIndex;
  private readonly importantException: RuleIndex;
  private readonly state: ListQueryState;
  /** Rules that only a compiled matcher can answer (counted in the list's size). */
  readonly ruleCount: number;
  /** Some rule depends on the client's address ($client): answers are per client. */
  readonly readsClient: boolean;
  /** This list's slot in its list set's SuffixIndex; -1: not filed there. */
  indexSlot = -1;
  /** Built for worker threads: the rules as parsed (toShared). */
  private readonly source: readonly SourceRule[] | undefined;
  /** The name rules' sets (also in `groups`), for toShared. */
  private readonly names: readonly NameRules[];

  constructor(
    name: string,
    block: DomainSet,
    allow: DomainSet,
    groups: RuleGroups,
    state: ListQueryState,
    source: readonly SourceRule[] | undefined,
    names: readonly NameRules[],
  ) {
    this.source = source;
    this.names = names;
    this.name = name;
    this.block = block;
    this.allow = allow;
    this.blockRules = groups.block;
    this.exceptionRules = groups.exception;
    this.importantBlock = groups.importantBlock;
    this.importantException = groups.importantException;
    this.state = state;
    const all = [groups.block, groups.exception, groups.importantBlock, groups.importantException];
    this.ruleCount = all.reduce((a, g) => a + g.size, 0);
    this.readsClient = all.some((g) => g.readsClient);
  }

  /**
   * A list another thread built (toShared()): the same sets' memory, its rules compiled here,
   * reading this thread's per-query `state`.
   */
  static *fromSharedSteps(
    name: string,
    s: SharedDomainList,
    state: ListQueryState,
  ): Steps<DomainList> {
    const names = s.names.map((n) => ({ ...n, names: DomainSet.fromShared(n.names) }));
    // The building thread compiled these already and kept only those that compile.
    const groups = yield* compileGroups(s.rules, names, () => {});
    return new DomainList(
      name,
      DomainSet.fromShared(s.block),
      DomainSet.fromShared(s.allow),
      groups,
      state,
      undefined,
      names,
    );
  }

  /** This list for worker threads; only a list built with `shared` (DomainListBuilder). */
  toShared(): SharedDomainList {
    if (!this.source) throw new Error(`list $${this.name} was not built for sharing`);
    return {
      block: this.block.toShared(),
      allow: this.allow.toShared(),
      rules: this.source,
      names: this.names.map((n) => ({ ...n, names: n.names.toShared() })),
    };
  }

  /** Blocking entries: names plus blocking rules. */
  get size(): number {
    return this.block.size + this.blockRules.size + this.importantBlock.size;
  }

  get byteLength(): number {
    let n = this.block.byteLength + this.allow.byteLength;
    for (const r of this.names) n += r.names.byteLength;
    return n;
  }

  /** `field in $list`: the value as a name on its own (a listed parent does not count). */
  has(value: BytesValue): boolean {
    return this.verdict(value, false);
  }

  /** `any(dns.domains[*] in $list)`: the name with its parents, exceptions applied. */
  hasAny(values: readonly BytesValue[]): boolean {
    const first = values[0];
    if (first === undefined) return false;
    const index = this.state.index;
    if (index !== undefined && this.indexSlot >= 0) {
      // The list set's small plain lists, all looked at in one pass (suffix-index.ts).
      const r = index.lookup(values, this.indexSlot, isNameChain);
      if (r === Lookup.No) return false;
      if (r === Lookup.Maybe) return this.verdict(first, true);
    } else if (isNameChain(values)) return this.verdict(first, true);
    for (const v of values) if (this.verdict(v, false)) return true;
    return false;
  }

  /** The list's verdict for a name and its parents (callers outside the rules engine). */
  hasOrParent(name: string): boolean {
    return this.verdict(name, true);
  }

  private verdict(name: string, parents: boolean): boolean {
    const q = this.state;
    if (this.ruleCount === 0) {
      // Only names: the common, fast case.
      const at = parents ? this.block.suffixAt(name) : this.block.has(name) ? 0 : -1;
      if (at < 0) return false;
      if (this.allow.size > 0 && this.allow.suffixAt(name) >= 0) return false;
      return this.matched(name, at, undefined);
    }
    if (this.importantException.size > 0 && this.importantException.find(name, q)) return false;
    let rule: CompiledRule | undefined =
      this.importantBlock.size > 0 ? this.importantBlock.find(name, q) : undefined;
    if (rule) return this.matched(name, -1, rule);
    const at = parents ? this.block.suffixAt(name) : this.block.has(name) ? 0 : -1;
    if (at < 0) {
      rule = this.blockRules.find(name, q);
      if (!rule) return false;
    }
    if (this.allow.size > 0 && this.allow.suffixAt(name) >= 0) return false;
    if (this.exceptionRules.size > 0 && this.exceptionRules.find(name, q)) return false;
    return this.matched(name, at, rule);
  }

  private matched(name: string, at: number, rule: CompiledRule | undefined): boolean {
    const q = this.state;
    q.matchName = name;
    q.matchRule = rule ? ruleText(rule.rule) : at === 0 ? name : name.slice(at);
    q.matchRewrite = rule?.rule.rewrite;
    return true;
  }
}
