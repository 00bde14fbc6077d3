// AdGuard Home: AdGuardHome.yaml (current layout with a `filtering` section, and the older
// one with rewrites and blocked services under `dns`) mapped to a plan.

import { isIP } from "node:net";
import { ImportInputError } from "./errors.ts";
import {
  clientNetwork,
  domainOrUndefined,
  emptyPlan,
  type ImportPlan,
  listName,
  type PlannedPolicy,
  parseUpstream,
  quote,
  regexExpression,
  regexProblem,
} from "./plan.ts";
import { arr, obj, readYamlObject, str } from "./yaml-doc.ts";

const BLOCKING_ADDRESSES = new Set(["0.0.0.0", "127.0.0.1", "::", "::1"]);

/** The `dns.src_ip` networks of an AdGuard Home client's ids, and the ids that are not addresses. */
function clientIds(ids: unknown[]): { nets: string[]; other: string[] } {
  const nets: string[] = [];
  const other: string[] = [];
  for (const id of ids.map(str)) {
    const n = clientNetwork(id);
    if (n) nets.push(n);
    else other.push(id);
  }
  return { nets, other };
}

export function planAdGuardHome(bytes: Buffer): ImportPlan {
  const doc = readYamlObject(bytes, "an AdGuardHome.yaml");
  if (!("dns" in doc) && !("filters" in doc))
    throw new ImportInputError(
      "not an AdGuardHome.yaml: it has neither a dns nor a filters section",
    );
  const plan = emptyPlan("adguardhome");
  const dns = obj(doc["dns"]);
  const filtering = "filtering" in doc ? obj(doc["filtering"]) : dns;

  // Clients with filtering off come first: nothing else applies to them.
  const persistent = arr(obj(doc["clients"])["persistent"]).map(obj);
  for (const c of persistent) {
    const name = str(c["name"]);
    const { nets, other } = clientIds(arr(c["ids"]));
    for (const id of other)
      plan.notMapped.push({
        item: `client ${name} id ${id}`,
        reason:
          "Gatehouse scopes policies by client address or network; MAC addresses and client IDs cannot be matched",
      });
    const unmapped: string[] = [];
    if (c["use_global_settings"] === false) {
      if (c["parental_enabled"] === true) unmapped.push("parental control");
      if (c["safebrowsing_enabled"] === true) unmapped.push("safe browsing");
      if (obj(c["safe_search"])["enabled"] === true || c["safesearch_enabled"] === true)
        unmapped.push("safe search");
    }
    if (
      c["use_global_blocked_services"] === false &&
      arr(obj(c["blocked_services"])["ids"] ?? c["blocked_services"]).length > 0
    )
      unmapped.push("its own blocked services");
    if (arr(c["upstreams"]).length > 0) unmapped.push("its own upstreams");
    if (unmapped.length > 0)
      plan.notMapped.push({
        item: `client ${name}`,
        reason: `${unmapped.join(", ")}: Gatehouse has no per-client resolver settings of that kind`,
      });
    if (c["use_global_settings"] === false && c["filtering_enabled"] === false) {
      if (nets.length === 0) continue;
      plan.policies.push({
        name: `adguardhome: no filtering for ${name}`.slice(0, 200),
        expression: `dns.src_ip in {${nets.join(" ")}}`,
        action: "allow",
      });
    }
  }

  // Rewrites → overrides (before blocking, as AdGuard Home answers them first).
  const rewrites = new Map<string, { expr: string; ips: string[]; host?: string; raw: string }>();
  for (const r of arr(filtering["rewrites"] ?? dns["rewrites"]).map(obj)) {
    if (r["enabled"] === false) continue;
    const domain = str(r["domain"]).toLowerCase();
    const answer = str(r["answer"]);
    const label = `rewrite ${domain} → ${answer}`;
    let expr: string;
    let name = domain;
    if (domain.startsWith("*.")) {
      const base = domainOrUndefined(domain.slice(2));
      if (!base) {
        plan.notMapped.push({ item: label, reason: "not a valid domain name" });
        continue;
      }
      expr = `ends_with(dns.fqdn, ${quote(`.${base}`)})`;
      name = `*.${base}`;
    } else {
      const d = domainOrUndefined(domain);
      if (!d) {
        plan.notMapped.push({ item: label, reason: "not a valid domain name" });
        continue;
      }
      expr = `dns.fqdn == ${quote(d)}`;
      name = d;
    }
    if (answer === "A" || answer === "AAAA") {
      plan.notMapped.push({
        item: label,
        reason: "keeping the upstream's answer for one type is not mappable",
      });
      continue;
    }
    const entry = rewrites.get(name) ?? { expr, ips: [], raw: label };
    if (isIP(answer)) entry.ips.push(answer);
    else {
      const host = domainOrUndefined(answer);
      if (!host) {
        plan.notMapped.push({
          item: label,
          reason: "the answer is neither an address nor a host name",
        });
        continue;
      }
      entry.host = host;
    }
    rewrites.set(name, entry);
  }
  for (const [name, r] of rewrites) {
    if (r.host && r.ips.length > 0) {
      plan.notMapped.push({
        item: r.raw,
        reason: "a name rewritten to both addresses and a host name",
      });
      continue;
    }
    plan.policies.push({
      name: `adguardhome: rewrite ${name}`,
      expression: r.expr,
      action: "override",
      settings: r.host ? { overrideHost: r.host } : { overrideIps: [...new Set(r.ips)] },
    });
  }

  // User rules: allow rules first, then blocks.
  const allow: string[] = [];
  const block: string[] = [];
  const hostsBlock: string[] = [];
  const allowRegex: PlannedPolicy[] = [];
  const blockRegex: PlannedPolicy[] = [];
  const hostsOverride = new Map<string, string[]>();
  for (const raw of arr(filtering["user_rules"] ?? doc["user_rules"]).map(str)) {
    const line = raw.trim();
    if (!line || line.startsWith("!") || line.startsWith("#")) continue;
    const label = `user rule ${line}`;
    const exception = line.startsWith("@@");
    const body = exception ? line.slice(2) : line;
    const pattern = /^\/(.+)\/$/.exec(body)?.[1];
    if (pattern !== undefined) {
      const expr = regexExpression(pattern);
      const problem = regexProblem(expr);
      if (problem) plan.notMapped.push({ item: label, reason: `not mappable: ${problem}` });
      else
        (exception ? allowRegex : blockRegex).push({
          name: `adguardhome: ${exception ? "allow" : "block"} ${body}`.slice(0, 200),
          expression: expr,
          action: exception ? "allow" : "block",
        });
      continue;
    }
    if (body.includes("$")) {
      plan.notMapped.push({
        item: label,
        reason:
          "rules with modifiers ($important, $client, $dnstype, $dnsrewrite, …) are not mapped",
      });
      continue;
    }
    const [, address, hostNames] = /^(\S+)\s+(.+)$/.exec(body) ?? [];
    if (!exception && address !== undefined && hostNames !== undefined && isIP(address)) {
      for (const n of hostNames.split(/\s+/)) {
        const d = domainOrUndefined(n);
        if (!d) plan.notMapped.push({ item: `${label} (${n})`, reason: "not a valid domain name" });
        else if (BLOCKING_ADDRESSES.has(address)) hostsBlock.push(d);
        else hostsOverride.set(d, [...(hostsOverride.get(d) ?? []), address]);
      }
      continue;
    }
    const name = (/^\|\|([^/^|*]+)\^?$/.exec(body) ?? /^([a-z0-9_.-]+)$/i.exec(body))?.[1];
    const d = name !== undefined ? domainOrUndefined(name) : undefined;
    if (!d) {
      plan.notMapped.push({
        item: label,
        reason: body.includes("*")
          ? "wildcard rules are not mapped: `||name^` covers a name and its subdomains"
          : "only `||name^`, `@@||name^`, `/regex/`, hosts lines and bare names are mapped",
      });
      continue;
    }
    (exception ? allow : block).push(d);
  }
  const userList = (
    suffix: string,
    items: string[],
    action: "allow" | "block",
    expr: (n: string) => string,
    what: string,
  ) => {
    if (items.length === 0) return;
    const name = listName(plan, suffix);
    plan.lists.push({
      name,
      description: `AdGuard Home's user rules: ${what}`,
      items: [...new Set(items)],
    });
    plan.policies.push({
      name: `adguardhome: user rules, ${what}`,
      expression: expr(name),
      action,
    });
  };
  const sub = (n: string) => `any(dns.domains[*] in $${n})`;
  userList("user_allowed", allow, "allow", sub, "allowed");
  plan.policies.push(...allowRegex);
  for (const [name, ips] of hostsOverride)
    plan.policies.push({
      name: `adguardhome: user rule ${name}`,
      expression: `dns.fqdn == ${quote(name)}`,
      action: "override",
      settings: { overrideIps: [...new Set(ips)] },
    });
  userList("user_blocked", block, "block", sub, "blocked");
  userList("user_hosts", hostsBlock, "block", (n) => `dns.fqdn in $${n}`, "blocked hosts lines");
  plan.policies.push(...blockRegex);

  // Filter lists: allowlists, then blocklists.
  for (const [key, action] of [
    ["whitelist_filters", "allow"],
    ["filters", "block"],
  ] as const) {
    for (const f of arr(doc[key]).map(obj)) {
      const url = str(f["url"]);
      const label = `${key === "filters" ? "filter" : "allowlist"} ${str(f["name"]) || url}`;
      if (f["enabled"] === false) {
        plan.notMapped.push({ item: label, reason: "disabled in AdGuard Home" });
        continue;
      }
      if (!/^https?:\/\//i.test(url)) {
        plan.notMapped.push({
          item: label,
          reason:
            "only http and https URLs can be subscribed (a local file is on the AdGuard Home machine)",
        });
        continue;
      }
      const name = listName(
        plan,
        key === "filters" ? "filter" : "allowlist",
        str(f["id"]) || String(plan.lists.length),
      );
      plan.lists.push({
        name,
        description: (str(f["name"]) || url).slice(0, 2000),
        items: [],
        subscription: { url, format: "auto" },
      });
      plan.policies.push({
        name: `adguardhome: ${key === "filters" ? "filter" : "allowlist"} ${str(f["name"]) || url}`.slice(
          0,
          200,
        ),
        // A filter's own `@@||name^` exceptions reach edges as `$<list>.allow`.
        expression:
          action === "block"
            ? `${sub(name)} and not any(dns.domains[*] in $${name}.allow)`
            : `${sub(name)} or any(dns.domains[*] in $${name}.allow)`,
        action,
      });
    }
  }

  // Blocked services have no domain catalogue here.
  const bs = filtering["blocked_services"] ?? dns["blocked_services"];
  const ids = Array.isArray(bs) ? bs : arr(obj(bs)["ids"]);
  for (const id of ids.map(str))
    plan.notMapped.push({
      item: `blocked service ${id}`,
      reason:
        "Gatehouse has no catalogue of services' domains: list the service's domains and block the list",
    });
  if (obj(filtering["safe_search"])["enabled"] === true || filtering["safesearch_enabled"] === true)
    plan.notMapped.push({
      item: "safe search",
      reason:
        "not imported: add a DNS policy with the action safesearch for the clients it should cover",
    });

  // Upstreams, with `[/domain/…/]upstream` as conditional forwarding.
  const cf = new Map<string, string[]>();
  for (const raw of arr(dns["upstream_dns"]).map(str)) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const [, domains, upstreams] = /^\[\/(.*)\/\](.*)$/.exec(line) ?? [];
    if (domains === undefined || upstreams === undefined) {
      for (const u of line.split(/\s+/)) {
        const r = parseUpstream(u);
        if (r.ok) plan.upstreams.push(r.value);
        else plan.notMapped.push({ item: `upstream ${u}`, reason: r.reason });
      }
      continue;
    }
    const ups = upstreams.trim().split(/\s+/).filter(Boolean);
    for (const dom of domains.split("/")) {
      if (!dom) continue;
      const suffix = domainOrUndefined(dom);
      if (!suffix) {
        plan.notMapped.push({ item: `upstream ${line}`, reason: `${dom} is not a domain name` });
        continue;
      }
      if (ups.length === 0 || ups.includes("#")) {
        plan.notMapped.push({
          item: `upstream ${line}`,
          reason: "`#` (the default upstreams for a domain) needs no entry in Gatehouse",
        });
        continue;
      }
      for (const u of ups) {
        const r = parseUpstream(u);
        if (r.ok) cf.set(suffix, [...(cf.get(suffix) ?? []), r.value.address]);
        else plan.notMapped.push({ item: `upstream ${line}`, reason: r.reason });
      }
    }
  }
  for (const [suffix, addrs] of cf)
    plan.conditionalForwarding.push({
      suffix,
      upstreams: [...new Set(addrs)].slice(0, 8).map((address) => ({ address })),
    });
  if (str(dns["upstream_dns_file"]))
    plan.notMapped.push({
      item: `upstream_dns_file ${str(dns["upstream_dns_file"])}`,
      reason: "a file on the AdGuard Home machine: copy its upstreams into upstream_dns",
    });
  return plan;
}
