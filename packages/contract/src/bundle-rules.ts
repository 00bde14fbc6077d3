// The checks of a config bundle beyond its shape (validate.ts has the shape, from the TypeBox
// schemas): expressions compile against their scheme, every `$list` exists with the right type,
// precedence is unique per type, addresses parse. Free of TypeBox, so an edge runs them without
// loading the schemas (edge-checks.ts).

import { type ListType, parseIp, type RuleError, Scheme } from "@gatehouse/rules";
import { type ListKind, POLICY_ACTIONS } from "./bundle-basics.ts";
import type { ConfigBundle, Policy, PolicySettings } from "./config-bundle.ts";
import { type PolicyType, SCHEMES } from "./schemes.ts";
import { trustAnchorLines } from "./trust-anchors.ts";
import { parseZoneFile } from "./zone-file.ts";

export interface BundleProblem {
  /** JSON pointer into the bundle, e.g. `/policies/3/expression`. */
  readonly path: string;
  readonly message: string;
  /** Set for expression errors. */
  readonly rule?: ReturnType<RuleError["toJSON"]>;
}

/** The rules type a list of each kind holds. */
export const LIST_RULE_TYPE: Readonly<Record<ListKind, ListType>> = {
  domain: "Bytes",
  string: "Bytes",
  ip: "Ip",
  int: "Int",
};

let schemes: Record<PolicyType, Scheme> | undefined;
/** Compiled schemes, built once per process. */
export function gatewaySchemes(): Record<PolicyType, Scheme> {
  schemes ??= {
    dns: new Scheme(SCHEMES.dns),
    http: new Scheme(SCHEMES.http),
    net: new Scheme(SCHEMES.net),
  };
  return schemes;
}

/**
 * What a bundle whose shape is valid must hold besides: every policy's expression, action and
 * list references, unique names, ids and precedences, addresses, zones and trust anchors.
 * Adblock exception lists (`<name>.allow`) count as declared when `<name>` is a domain list.
 */
export function checkBundleRules(bundle: ConfigBundle): BundleProblem[] {
  const problems: BundleProblem[] = [];
  const lists = new Map<string, ListType>();
  bundle.lists.forEach((l, i) => {
    if (lists.has(l.name))
      problems.push({ path: `/lists/${i}/name`, message: `duplicate list name "${l.name}"` });
    lists.set(l.name, LIST_RULE_TYPE[l.type]);
    if (l.type === "domain") lists.set(`${l.name}.allow`, "Bytes");
  });
  const ids = new Set<string>();
  const precedences = new Map<string, string>();
  const s = gatewaySchemes();
  bundle.policies.forEach((p, i) => {
    if (ids.has(p.id))
      problems.push({ path: `/policies/${i}/id`, message: `duplicate policy id "${p.id}"` });
    ids.add(p.id);
    const key = `${p.type}:${p.precedence}`;
    const other = precedences.get(key);
    if (other !== undefined)
      problems.push({
        path: `/policies/${i}/precedence`,
        message: `precedence ${p.precedence} is already used by ${p.type} policy "${other}"`,
      });
    precedences.set(key, p.id);
    const actions: readonly string[] = POLICY_ACTIONS[p.type];
    if (!actions.includes(p.action))
      problems.push({
        path: `/policies/${i}/action`,
        message: `action "${p.action}" is not valid for a ${p.type} policy (one of ${actions.join(", ")})`,
      });
    problems.push(...checkPolicySettings(p, `/policies/${i}/settings`));
    problems.push(...checkExpression(s[p.type], p.expression, lists, `/policies/${i}/expression`));
  });
  (bundle.pauses ?? []).forEach((p, i) => {
    if (p.client === undefined) return;
    if (parseIp(p.client) === undefined)
      problems.push({ path: `/pauses/${i}/client`, message: `"${p.client}" is not an IP address` });
    if (p.locationId !== undefined)
      problems.push({
        path: `/pauses/${i}`,
        message: "a pause names a location or a client, not both",
      });
  });
  const clients = new Set<string>();
  (bundle.clients ?? []).forEach((c, i) => {
    if (parseIp(c.client) === undefined)
      problems.push({
        path: `/clients/${i}/client`,
        message: `"${c.client}" is not an IP address`,
      });
    if (clients.has(c.client))
      problems.push({ path: `/clients/${i}/client`, message: `duplicate client "${c.client}"` });
    clients.add(c.client);
  });
  const zoneNames = new Set<string>();
  (bundle.localZones ?? []).forEach((z, i) => {
    const apex = z.name.toLowerCase().replace(/\.$/, "");
    if (zoneNames.has(apex))
      problems.push({ path: `/localZones/${i}/name`, message: `duplicate local zone "${apex}"` });
    zoneNames.add(apex);
    try {
      parseZoneFile(z.zone, apex);
    } catch (e) {
      problems.push({ path: `/localZones/${i}/zone`, message: (e as Error).message });
    }
    (z.transferTo ?? []).forEach((a, j) => {
      if (!isIpOrCidr(a))
        problems.push({
          path: `/localZones/${i}/transferTo/${j}`,
          message: `not an address or CIDR: "${a}"`,
        });
    });
  });
  const anchors = bundle.resolver.dnssec?.trustAnchors;
  if (anchors !== undefined) {
    try {
      if (trustAnchorLines(anchors).length === 0)
        problems.push({
          path: "/resolver/dnssec/trustAnchors",
          message: "holds no DS or DNSKEY record (leave it out for the built-in root anchors)",
        });
    } catch (e) {
      problems.push({ path: "/resolver/dnssec/trustAnchors", message: (e as Error).message });
    }
  }
  return problems;
}

/** `a.b.c.d`, an IPv6 address, or either with `/prefix` inside the family's width. */
export function isIpOrCidr(text: string): boolean {
  const slash = text.indexOf("/");
  const ip = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (ip === undefined) return false;
  if (slash < 0) return true;
  const len = text.slice(slash + 1);
  return /^[0-9]{1,3}$/.test(len) && Number(len) <= (ip.family === 4 ? 32 : 128);
}

/**
 * Settings that only some policies may carry. `allowPrivateDestinations` is the one way to let
 * the proxy dial an internal address, so it is refused where it would mean nothing (a block, a
 * DNS policy) rather than silently ignored, and every entry must be an address or CIDR.
 * `untrustedOriginCert` is for HTTP allow policies only.
 */
export function checkPolicySettings(
  p: Pick<Policy, "type" | "action"> & { readonly settings?: PolicySettings | null },
  path = "/settings",
): BundleProblem[] {
  const out: BundleProblem[] = [];
  // Only an HTTP allow policy decides inspected requests whose origin may fail verification.
  if (p.settings?.untrustedOriginCert !== undefined && (p.type !== "http" || p.action !== "allow"))
    out.push({
      path: `${path}/untrustedOriginCert`,
      message: "untrustedOriginCert is only for allow policies of type http",
    });
  const list = p.settings?.allowPrivateDestinations;
  if (list === undefined) return out;
  const at = `${path}/allowPrivateDestinations`;
  if (p.type === "dns" || p.action !== "allow") {
    out.push({
      path: at,
      message: "allowPrivateDestinations is only for allow policies of type net or http",
    });
    return out;
  }
  list.forEach((cidr, i) => {
    if (!isIpOrCidr(cidr))
      out.push({ path: `${at}/${i}`, message: `"${cidr}" is not an IP address or CIDR` });
  });
  return out;
}

/** Compile one expression and check its list references against the declared lists. */
export function checkExpression(
  scheme: Scheme,
  expression: string,
  lists: ReadonlyMap<string, ListType>,
  path = "/expression",
): BundleProblem[] {
  const r = scheme.compile(expression);
  if (!r.ok) return [{ path, message: r.error.message, rule: r.error.toJSON() }];
  const out: BundleProblem[] = [];
  for (const ref of r.value.lists) {
    const t = lists.get(ref.name);
    const span: [number, number] = [ref.span.start, ref.span.length];
    if (t === undefined)
      out.push({
        path,
        message: `unknown list $${ref.name}`,
        rule: { kind: "UnknownIdentifier", message: `unknown list $${ref.name}`, span },
      });
    else if (t !== ref.type)
      out.push({
        path,
        message: `list $${ref.name} holds ${t} values but is compared with a ${ref.type} value`,
        rule: {
          kind: "TypeMismatch",
          message: `list $${ref.name} holds ${t}, expected ${ref.type}`,
          span,
        },
      });
  }
  return out;
}
