// Policies that can never match because an earlier one always wins (GET /config/check's
// warnings). Evaluation order is the edge's: first match wins and every action is final
// (DNS allow included); DNS query-phase policies run before every response-phase one whatever
// their precedence; HTTP do_not_inspect policies run first; network policies run before HTTP
// ones, so a network block that matches everything leaves HTTP policies nothing.
//
// "Always wins" is decided on the expression's boolean skeleton: comparisons, quantifiers and
// bare Bool fields are opaque atoms (identical atoms are one variable), and the earlier policy
// must be true under every assignment of them. The query type is the one thing known more
// precisely: `dns.query_rtype` comparisons are evaluated for each type, and a later policy that
// needs an answer record (`any(dns.resolved_ips[*] …)`) can only match queries of the types
// that carry it. So `dns.query_rtype == "A" or dns.query_rtype == "AAAA"` shadows a later
// `any(dns.resolved_ips[*] in $bad)`. The check is sound, not complete: a warning is always
// real, and some shadowed policies go unreported. Identical expressions always shadow.

import { type Expr, evalSkeleton, format } from "@gatehouse/rules";
import type { ConfigBundle, Policy } from "./config-bundle.ts";
import { DNS_RESPONSE_FIELDS, type PolicyType } from "./schemes.ts";
import { gatewaySchemes } from "./validate.ts";

export interface PolicyWarning {
  /** JSON pointer of the shadowed policy, e.g. `/policies/5`. */
  readonly path: string;
  readonly policyId: string;
  /** The policy that always matches first. */
  readonly shadowedBy: string;
  readonly message: string;
}

/** Answer fields and the query types whose answers carry them (RFC 1035 §3.2.2, RFC 3596). */
const ANSWER_TYPES: Readonly<Record<string, readonly string[]>> = {
  "dns.resolved_ips": ["A", "AAAA"],
  "dns.response.mx": ["MX"],
  "dns.response.ptr": ["PTR"],
  "dns.response.txt": ["TXT"],
};
const QTYPE = "dns.query_rtype";
/** Stands for every query type no expression names (they all evaluate alike). */
const OTHER_TYPE = "\u0000other";
/** Opaque atoms beyond this make the enumeration too large: no verdict (no warning). */
const MAX_ATOMS = 12;

interface Analysed {
  readonly policy: Policy;
  readonly index: number;
  readonly expr: Expr;
  readonly canonical: string;
  readonly atoms: readonly string[];
  readonly qtypes: readonly string[];
  readonly phase: "query" | "response";
}

/** The field an atom reads directly (no function around it), or undefined. */
function directField(e: Expr): string | undefined {
  if (e.kind === "compare" || e.kind === "is_true") {
    const v = e.kind === "compare" ? e.lhs : e.value;
    return v.base.kind === "field" ? v.base.name : undefined;
  }
  if (e.kind === "quantifier" && e.op === "any" && e.arg.kind === "logical")
    return directField(e.arg.expr);
  return undefined;
}

/** A `dns.query_rtype` comparison's verdict for one type, or undefined for other atoms. */
function qtypeVerdict(e: Expr, qtype: string): boolean | undefined {
  if (e.kind !== "compare" || e.lhs.base.kind !== "field" || e.lhs.base.name !== QTYPE) return;
  if (e.lhs.indexes.length > 0) return undefined;
  const c = e.cmp;
  if ((c.op === "eq" || c.op === "ne") && c.value.kind === "bytes")
    return (c.value.value === qtype) === (c.op === "eq");
  if (c.op === "in" && c.set.type === "Bytes") return c.set.items.includes(qtype);
  return undefined;
}

/** The skeleton's opaque atoms (as formatted) and the query types its type comparisons name. */
function collect(e: Expr, atoms: Set<string>, qtypes: Set<string>): void {
  // The evaluator visits every atom: here only to see them.
  evalSkeleton(e, (atom) => {
    if (qtypeVerdict(atom, OTHER_TYPE) === undefined) {
      atoms.add(format(atom));
      return undefined;
    }
    // A query-type comparison: remember the types it names (evaluated per type, not opaque).
    if (atom.kind !== "compare") return undefined;
    const c = atom.cmp;
    if (c.op === "in" && c.set.type === "Bytes") for (const t of c.set.items) qtypes.add(t);
    else if ((c.op === "eq" || c.op === "ne") && c.value.kind === "bytes")
      qtypes.add(c.value.value);
    return undefined;
  });
}

/**
 * Evaluate the skeleton. `values` gives each opaque atom's truth; an atom reading an answer
 * field the query type cannot carry, inside `any(…)` or as a direct comparison, is false.
 */
function evaluate(
  e: Expr,
  qtype: string,
  values: ReadonlyMap<string, boolean>,
  absent: ReadonlySet<string>,
): boolean {
  // Every atom has a value here, so the three-valued evaluator answers true or false.
  return (
    evalSkeleton(
      e,
      (atom) => {
        const q = qtypeVerdict(atom, qtype);
        if (q !== undefined) return q;
        const f = directField(atom);
        if (
          f !== undefined &&
          absent.has(f) &&
          (atom.kind === "quantifier" || atom.kind === "compare")
        )
          return false;
        return values.get(format(atom)) ?? false;
      },
      true,
    ) === true
  );
}

/** Whether `test` holds under every assignment of `atoms`. */
function forAll(
  atoms: readonly string[],
  test: (values: Map<string, boolean>) => boolean,
): boolean {
  const values = new Map<string, boolean>();
  for (let bits = 0; bits < 1 << atoms.length; bits++) {
    for (const [i, atom] of atoms.entries()) values.set(atom, (bits & (1 << i)) !== 0);
    if (!test(values)) return false;
  }
  return true;
}

/** Answer fields a query of this type leaves empty. */
function absentFor(qtype: string): Set<string> {
  const out = new Set<string>();
  for (const [field, types] of Object.entries(ANSWER_TYPES))
    if (!types.includes(qtype)) out.add(field);
  return out;
}

function analyse(p: Policy, index: number): Analysed | undefined {
  const r = gatewaySchemes()[p.type].parse(p.expression);
  if (!r.ok) return undefined;
  const atoms = new Set<string>();
  const qtypes = new Set<string>();
  collect(r.value.expr, atoms, qtypes);
  return {
    policy: p,
    index,
    expr: r.value.expr,
    canonical: format(r.value),
    atoms: [...atoms],
    qtypes: [...qtypes],
    phase:
      p.type === "dns" && r.value.fields.some((f) => DNS_RESPONSE_FIELDS.has(f))
        ? "response"
        : "query",
  };
}

/** `first` matches whenever `later` could: it always wins. */
function covers(first: Analysed, later: Analysed): boolean {
  if (first.canonical === later.canonical) return true;
  const atoms = [...new Set([...first.atoms, ...later.atoms])];
  if (atoms.length > MAX_ATOMS) return false;
  const types = [...new Set([...first.qtypes, ...later.qtypes, OTHER_TYPE])];
  if (later.policy.type === "dns") for (const t of Object.values(ANSWER_TYPES)) types.push(...t);
  for (const t of new Set(types)) {
    const absent = later.policy.type === "dns" ? absentFor(t) : new Set<string>();
    // Only the types under which `later` can match at all matter.
    const laterPossible = !forAll(atoms, (v) => !evaluate(later.expr, t, v, absent));
    if (!laterPossible) continue;
    if (!forAll(atoms, (v) => evaluate(first.expr, t, v, absent))) return false;
  }
  return true;
}

function describe(a: Analysed): string {
  const where = a.policy.type === "dns" ? `, ${a.phase} phase` : "";
  return `"${a.policy.name}" (${a.policy.type}, precedence ${a.policy.precedence}${where}, ${a.policy.action})`;
}

/** Evaluation order of one type's enabled policies on the edge. */
function ordered(type: PolicyType, list: readonly Analysed[]): Analysed[] {
  return list
    .filter((a) => a.policy.type === type)
    .sort((a, b) => {
      if (type === "dns" && a.phase !== b.phase) return a.phase === "query" ? -1 : 1;
      if (type === "http") {
        const da = a.policy.action === "do_not_inspect" ? 0 : 1;
        const db = b.policy.action === "do_not_inspect" ? 0 : 1;
        if (da !== db) return da - db;
      }
      return a.policy.precedence - b.policy.precedence;
    });
}

/** Enabled policies an earlier one (in the edge's order) always beats. */
export function shadowedPolicies(bundle: Pick<ConfigBundle, "policies">): PolicyWarning[] {
  const analysed: Analysed[] = [];
  bundle.policies.forEach((p, i) => {
    if (!p.enabled) return;
    const a = analyse(p, i);
    if (a !== undefined) analysed.push(a);
  });
  const out: PolicyWarning[] = [];
  const warn = (later: Analysed, first: Analysed, why: string) =>
    out.push({
      path: `/policies/${later.index}`,
      policyId: later.policy.id,
      shadowedBy: first.policy.id,
      message: `policy ${describe(later)} can never match: ${describe(first)} ${why}`,
    });
  const alwaysFirst = new Map<PolicyType, Analysed[]>();
  for (const type of ["dns", "net", "http"] as const) {
    const order = ordered(type, analysed);
    const winners: Analysed[] = [];
    for (const later of order) {
      // The policies before `later` (each appears once in the order).
      for (const first of order) {
        if (first === later) break;
        // A scheduled policy does not always win (outside its windows it does not run).
        if (first.policy.schedule !== undefined) continue;
        if (covers(first, later)) {
          warn(
            later,
            first,
            first.canonical === later.canonical
              ? "has the same expression and runs first"
              : "runs first and matches everything it could match",
          );
          break;
        }
      }
    }
    for (const a of order)
      if (
        a.policy.schedule === undefined &&
        forAll(a.atoms, (v) => evaluate(a.expr, OTHER_TYPE, v, new Set())) &&
        a.qtypes.length === 0
      )
        winners.push(a);
    alwaysFirst.set(type, winners);
  }
  // Network policies run before HTTP ones: a network block that matches every connection
  // leaves the HTTP policies nothing to decide.
  const netBlock = alwaysFirst.get("net")?.find((a) => a.policy.action === "block");
  if (netBlock !== undefined)
    for (const h of analysed)
      if (h.policy.type === "http" && !out.some((w) => w.policyId === h.policy.id))
        warn(
          h,
          netBlock,
          "is a network block that matches every connection, and network policies run first",
        );
  return out;
}
