// Which policies apply to one client (the client page): each enabled policy's expression is
// evaluated with what is known about the client — its location (id and name) and its address —
// and everything else unknown, in three-valued logic (true, false, unknown; Kleene's and/or/not).
// A policy whose expression comes out false can never match this client; one that reads nothing
// about the client applies to every client's matching queries; one that reads identity fields
// (or the DoH URL) depends on who signed in or which device asks, which an address does not say.
// The client's own `skipPolicies` exempt it from those DNS policies whatever their expression.

import { type ClientView, gatewaySchemes, type PolicyType } from "@gatehouse/contract";
import {
  compareIp,
  type Expr,
  evalSkeleton,
  type IpElement,
  type IpValue,
  type Literal,
  parseIp,
  type Tri,
  toBytes,
} from "@gatehouse/rules";

type Applies = ClientView["policies"][number]["applies"];

export interface ClientFacts {
  readonly ip: string;
  readonly location: { readonly id: string; readonly name: string } | undefined;
}

interface PolicyRow {
  readonly id: string;
  readonly type: string;
  readonly expression: string;
}

/** Fields that say where the query comes from: known for a client. */
const LOCATION_FIELDS = new Set(["dns.location", "dns.location_name"]);
const ADDRESS_FIELDS = new Set(["dns.src_ip", "http.conn.src_ip", "net.src.ip"]);

function ipIn(ip: IpValue, e: IpElement): Tri {
  if (e.kind === "addr") {
    const c = compareIp(ip, e.addr);
    return c === undefined ? false : c === 0;
  }
  const lo = compareIp(ip, e.kind === "cidr" ? e.addr : e.start);
  const hi = compareIp(ip, e.end);
  return lo !== undefined && hi !== undefined && lo >= 0 && hi <= 0;
}

function ordered(op: string, c: number): Tri {
  switch (op) {
    case "eq":
      return c === 0;
    case "ne":
      return c !== 0;
    case "lt":
      return c < 0;
    case "le":
      return c <= 0;
    case "gt":
      return c > 0;
    case "ge":
      return c >= 0;
    default:
      return undefined;
  }
}

class Evaluator {
  readsClient = false;
  readsIdentity = false;
  readonly #bytes: ReadonlyMap<string, string>;
  readonly #ip: IpValue | undefined;

  constructor(facts: ClientFacts) {
    const m = new Map<string, string>();
    if (facts.location) {
      m.set("dns.location", toBytes(facts.location.id));
      m.set("dns.location_name", toBytes(facts.location.name));
    }
    this.#bytes = m;
    this.#ip = parseIp(facts.ip);
  }

  /** The expression's truth for this client (every atom is visited, noting what it reads). */
  eval(e: Expr): Tri {
    return evalSkeleton(e, (atom) => this.atom(atom));
  }

  /** A comparison with what is known; anything else (bare Bool field, quantifier): unknown. */
  atom(e: Expr): Tri {
    if (e.kind === "compare") return this.compare(e);
    if (e.kind === "is_true") this.note(e.value.base.kind === "field" ? e.value.base.name : "");
    return undefined;
  }

  note(field: string): void {
    if (LOCATION_FIELDS.has(field) || ADDRESS_FIELDS.has(field)) this.readsClient = true;
    if (field.startsWith("identity.") || field === "dns.doh_subdomain") this.readsIdentity = true;
  }

  compare(e: Extract<Expr, { kind: "compare" }>): Tri {
    const base = e.lhs.base;
    if (base.kind !== "field") return undefined;
    this.note(base.name);
    // Only a plain field (no index, no function) is compared with what is known.
    if (e.lhs.indexes.length > 0 || e.lhs.mapEach) return undefined;
    const cmp = e.cmp;
    if (LOCATION_FIELDS.has(base.name)) {
      const v = this.#bytes.get(base.name);
      // No location: what the edge does with a missing field is left as unknown here.
      if (v === undefined) return undefined;
      if ((cmp.op === "eq" || cmp.op === "ne") && cmp.value.kind === "bytes")
        return cmp.op === "eq" ? v === cmp.value.value : v !== cmp.value.value;
      if (cmp.op === "in" && cmp.set.type === "Bytes") return cmp.set.items.includes(v);
      if (cmp.op === "contains") return v.includes(cmp.value);
      return undefined;
    }
    if (ADDRESS_FIELDS.has(base.name)) {
      const ip = this.#ip;
      if (ip === undefined) return undefined;
      if (cmp.op === "in" && cmp.set.type === "Ip") {
        let acc: Tri = false;
        for (const el of cmp.set.items) if (ipIn(ip, el)) acc = true;
        return acc;
      }
      if ("value" in cmp && typeof cmp.value === "object") {
        const lit = cmp.value as Literal;
        if (lit.kind !== "ip") return undefined;
        const c = compareIp(ip, lit.value);
        return c === undefined ? cmp.op === "ne" : ordered(cmp.op, c);
      }
      return undefined;
    }
    return undefined;
  }
}

/** Whether `p` applies to the client, and why, in words the client page shows. */
export function policyApplies(
  p: PolicyRow,
  facts: ClientFacts,
  skipped: ReadonlySet<string>,
): { applies: Applies; why: string } {
  if (p.type === "dns" && skipped.has(p.id))
    return { applies: "skipped", why: "this client's settings skip it" };
  const parsed = gatewaySchemes()[p.type as PolicyType]?.parse(p.expression);
  if (!parsed?.ok) return { applies: "always", why: "its expression does not parse" };
  const ev = new Evaluator(facts);
  const v = ev.eval(parsed.value.expr);
  if (v === false)
    return {
      applies: "never",
      why: "its location or address conditions exclude this client",
    };
  if (ev.readsIdentity)
    return {
      applies: "identity",
      why: "it depends on the signed-in user, device or DoH URL, not on the address",
    };
  if (ev.readsClient)
    return {
      applies: "client",
      why:
        v === true
          ? "its location or address conditions hold for this client: all its queries"
          : "it may: besides the query, it reads the location or address, which do not rule this client out",
    };
  return { applies: "always", why: "it reads nothing about the client: every client's queries" };
}
