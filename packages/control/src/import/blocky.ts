// Blocky: config.yml (denylists/allowlists, or the older blackLists/whiteLists; upstreams.groups
// or the older upstream) mapped to a plan. Blocky's list entries cover a name and its
// subdomains, so the policies use `any(dns.domains[*] in $list)`.

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
  scoped,
} from "./plan.ts";
import { arr, type Obj, obj, readYamlObject, str } from "./yaml-doc.ts";

export function planBlocky(bytes: Buffer): ImportPlan {
  const doc = readYamlObject(bytes, "a Blocky config.yml");
  if (!("upstreams" in doc) && !("upstream" in doc) && !("blocking" in doc))
    throw new ImportInputError(
      "not a Blocky config.yml: it has no upstreams and no blocking section",
    );
  const plan = emptyPlan("blocky");

  // customDNS: a name and its subdomains answered locally.
  const custom = obj(doc["customDNS"]);
  for (const [rawName, value] of Object.entries(obj(custom["mapping"]))) {
    const name = domainOrUndefined(rawName);
    const ips = str(value)
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
    if (!name || ips.length === 0 || ips.some((ip) => isIP(ip) === 0)) {
      plan.notMapped.push({
        item: `customDNS ${rawName}: ${str(value)}`,
        reason: "only `name: address[,address…]` mappings are mapped",
      });
      continue;
    }
    plan.policies.push({
      name: `blocky: custom DNS ${name}`,
      expression: `any(dns.domains[*] == ${quote(name)})`,
      action: "override",
      settings: { overrideIps: [...new Set(ips)] },
    });
  }
  if (Object.keys(obj(custom["rewrite"])).length > 0)
    plan.notMapped.push({
      item: "customDNS.rewrite",
      reason: "rewriting query names has no equivalent",
    });

  const blocking = obj(doc["blocking"]);
  const deny = obj(blocking["denylists"] ?? blocking["blackLists"]);
  const allow = obj(blocking["allowlists"] ?? blocking["whiteLists"]);
  const clientGroups = obj(blocking["clientGroupsBlock"]);

  // Which clients each group applies to: `default` is everyone not named explicitly.
  const explicit: { net: string; groups: string[] }[] = [];
  let defaults: string[] = [];
  for (const [client, groups] of Object.entries(clientGroups)) {
    const gs = arr(groups).map(str);
    if (client === "default") {
      defaults = gs;
      continue;
    }
    const net = clientNetwork(client);
    if (!net) {
      plan.notMapped.push({
        item: `clientGroupsBlock ${client}`,
        reason:
          "Gatehouse scopes policies by client address or network; client names and name patterns cannot be matched",
      });
      continue;
    }
    explicit.push({ net, groups: gs });
  }
  const scopeOf = (group: string): { clients: string[]; except: string[] } | undefined => {
    if (defaults.includes(group))
      return {
        clients: [],
        except: explicit.filter((e) => !e.groups.includes(group)).map((e) => e.net),
      };
    const clients = explicit.filter((e) => e.groups.includes(group)).map((e) => e.net);
    return clients.length > 0 ? { clients, except: [] } : undefined;
  };

  const groupPolicies = (lists: Obj, kind: "allow" | "deny"): PlannedPolicy[] => {
    const out: PlannedPolicy[] = [];
    for (const [group, sources] of Object.entries(lists)) {
      const label = `${kind}list group ${group}`;
      const scope = scopeOf(group);
      if (!scope) {
        plan.notMapped.push({
          item: label,
          reason: "no client (by address or network, or default) uses this group",
        });
        continue;
      }
      if (kind === "allow" && !(group in deny))
        plan.notMapped.push({
          item: label,
          reason:
            "an allowlist without a denylist makes Blocky block everything else for the group; only the allowing is imported",
        });
      const names: string[] = [];
      const inline: string[] = [];
      const extra: string[] = [];
      for (const [i, src] of arr(sources).map(str).entries()) {
        if (/^https?:\/\//i.test(src.trim()) && !src.trim().includes("\n")) {
          const name = listName(plan, kind, group, String(i + 1));
          plan.lists.push({
            name,
            description: src.trim(),
            items: [],
            subscription: { url: src.trim(), format: "auto" },
          });
          names.push(name);
          continue;
        }
        if (!src.includes("\n")) {
          plan.notMapped.push({
            item: `${label}: ${src}`,
            reason: "a file on the Blocky machine: only http and https URLs can be subscribed",
          });
          continue;
        }
        for (const raw of src.split("\n")) {
          const line = raw.replace(/#.*$/, "").trim();
          if (!line) continue;
          const pattern = /^\/(.+)\/$/.exec(line)?.[1];
          if (pattern !== undefined) {
            const expr = regexExpression(pattern);
            const problem = regexProblem(expr);
            if (problem)
              plan.notMapped.push({
                item: `${label}: ${line}`,
                reason: `not mappable: ${problem}`,
              });
            else extra.push(expr);
            continue;
          }
          if (line.startsWith("*.")) {
            const d = domainOrUndefined(line.slice(2));
            if (d) extra.push(`ends_with(dns.fqdn, ${quote(`.${d}`)})`);
            else
              plan.notMapped.push({ item: `${label}: ${line}`, reason: "not a valid domain name" });
            continue;
          }
          const d = domainOrUndefined(line);
          if (d) inline.push(d);
          else
            plan.notMapped.push({
              item: `${label}: ${line}`,
              reason: "not a domain, `*.domain` or `/regex/`",
            });
        }
      }
      if (inline.length > 0) {
        const name = listName(plan, kind, group, "inline");
        plan.lists.push({
          name,
          description: `Blocky's inline ${kind}list entries of group ${group}`,
          items: [...new Set(inline)],
        });
        names.push(name);
      }
      const terms = [...names.map((n) => `any(dns.domains[*] in $${n})`), ...extra];
      if (terms.length === 0) continue;
      out.push({
        name: `blocky: ${kind}list ${group}`,
        expression: scoped(terms.join(" or "), scope.clients, scope.except),
        action: kind === "allow" ? "allow" : "block",
      });
    }
    return out;
  };
  plan.policies.push(...groupPolicies(allow, "allow"), ...groupPolicies(deny, "deny"));
  for (const g of defaults)
    if (!(g in deny) && !(g in allow))
      plan.notMapped.push({
        item: `clientGroupsBlock default: ${g}`,
        reason: "no such list group",
      });

  // Upstreams: the default group; others are per-client.
  const upstreams = obj(obj(doc["upstreams"])["groups"] ?? doc["upstream"]);
  for (const [group, list] of Object.entries(upstreams)) {
    if (group !== "default") {
      plan.notMapped.push({
        item: `upstream group ${group}`,
        reason: "per-client upstreams have no equivalent; the default group is imported",
      });
      continue;
    }
    for (const u of arr(list).map(str)) {
      const r = parseUpstream(u);
      if (r.ok) plan.upstreams.push(r.value);
      else plan.notMapped.push({ item: `upstream ${u}`, reason: r.reason });
    }
  }

  const conditional = obj(doc["conditional"]);
  for (const [dom, value] of Object.entries(obj(conditional["mapping"]))) {
    const suffix = dom === "." ? undefined : domainOrUndefined(dom);
    if (!suffix) {
      plan.notMapped.push({
        item: `conditional ${dom}`,
        reason: "not a domain name (forwarding `.` is the upstreams' job)",
      });
      continue;
    }
    const ups = [];
    for (const u of str(value)
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean)) {
      const r = parseUpstream(u);
      if (r.ok) ups.push(r.value);
      else plan.notMapped.push({ item: `conditional ${dom}: ${u}`, reason: r.reason });
    }
    if (ups.length > 0) plan.conditionalForwarding.push({ suffix, upstreams: ups.slice(0, 8) });
  }
  if (Object.keys(obj(conditional["rewrite"])).length > 0)
    plan.notMapped.push({
      item: "conditional.rewrite",
      reason: "rewriting query names has no equivalent",
    });
  return plan;
}
