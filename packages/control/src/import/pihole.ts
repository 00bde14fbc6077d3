// Pi-hole: a gravity.db (SQLite), a v6 Teleporter backup (ZIP with etc/pihole/gravity.db and
// etc/pihole/pihole.toml) or a v5 Teleporter backup (tar.gz with the tables as JSON,
// setupVars.conf, custom.list and the CNAME file), read into one model and mapped to a plan.

import { randomUUID } from "node:crypto";
import { rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ArchiveError, isGzip, isZip, readTarGz, readZip } from "./archive.ts";
import { ImportInputError } from "./errors.ts";
import {
  clientNetwork,
  cnamePolicy,
  domainOrUndefined,
  emptyPlan,
  type ImportPlan,
  listName,
  overridePolicies,
  type PlannedPolicy,
  parseUpstream,
  quote,
  regexExpression,
  regexProblem,
  reverseZone,
  scoped,
} from "./plan.ts";
import { parseToml, type TomlTable } from "./toml.ts";

interface Row {
  [k: string]: unknown;
}

/** Pi-hole's configuration, whatever file it came from. */
interface PiholeData {
  adlists: { id: number; address: string; enabled: boolean; comment: string; type: number }[];
  /** type 0 exact allow, 1 exact deny, 2 regex allow, 3 regex deny (gravity.db's domainlist). */
  domains: { id: number; type: number; domain: string; enabled: boolean; comment: string }[];
  groups: { id: number; enabled: boolean; name: string }[];
  clients: { id: number; ip: string; comment: string }[];
  clientGroups: [number, number][];
  adlistGroups: [number, number][];
  domainGroups: [number, number][];
  upstreams: string[];
  /** v6 form: `enabled,cidr,server[#port],domain`. */
  revServers: string[];
  /** `ADDRESS NAME…` lines. */
  hosts: string[];
  /** `name,target[,ttl]`. */
  cnames: string[];
  /** Where the settings came from, for messages (`pihole.toml`, `setupVars.conf`, none). */
  settingsSource: string | undefined;
}

function empty(): PiholeData {
  return {
    adlists: [],
    domains: [],
    groups: [{ id: 0, enabled: true, name: "Default" }],
    clients: [],
    clientGroups: [],
    adlistGroups: [],
    domainGroups: [],
    upstreams: [],
    revServers: [],
    hosts: [],
    cnames: [],
    settingsSource: undefined,
  };
}

const num = (v: unknown) => Number(v ?? 0);
const txt = (v: unknown) => (v === null || v === undefined ? "" : String(v));
const on = (v: unknown) => v === undefined || v === null || Number(v) !== 0 || v === true;

function fromRows(
  d: PiholeData,
  t: {
    adlist?: Row[];
    domainlist?: Row[];
    group?: Row[];
    client?: Row[];
    client_by_group?: Row[];
    adlist_by_group?: Row[];
    domainlist_by_group?: Row[];
  },
): void {
  d.adlists = (t.adlist ?? []).map((r) => ({
    id: num(r["id"]),
    address: txt(r["address"]),
    enabled: on(r["enabled"]),
    comment: txt(r["comment"]),
    type: num(r["type"]),
  }));
  d.domains = (t.domainlist ?? []).map((r) => ({
    id: num(r["id"]),
    type: num(r["type"]),
    domain: txt(r["domain"]),
    enabled: on(r["enabled"]),
    comment: txt(r["comment"]),
  }));
  if (t.group)
    d.groups = t.group.map((r) => ({
      id: num(r["id"]),
      enabled: on(r["enabled"]),
      name: txt(r["name"]),
    }));
  d.clients = (t.client ?? []).map((r) => ({
    id: num(r["id"]),
    ip: txt(r["ip"]),
    comment: txt(r["comment"]),
  }));
  const pairs = (rows: Row[] | undefined, a: string) =>
    (rows ?? []).map((r) => [num(r[a]), num(r["group_id"])] as [number, number]);
  // Without a group-assignment table (a gravity.db or backup from before groups) everything is
  // in the Default group, as Pi-hole's own migration puts it.
  const inDefault = (rows: { id: number }[]) => rows.map((r) => [r.id, 0] as [number, number]);
  d.clientGroups = t.client_by_group ? pairs(t.client_by_group, "client_id") : inDefault(d.clients);
  d.adlistGroups = t.adlist_by_group ? pairs(t.adlist_by_group, "adlist_id") : inDefault(d.adlists);
  d.domainGroups = t.domainlist_by_group
    ? pairs(t.domainlist_by_group, "domainlist_id")
    : inDefault(d.domains);
}

async function readGravity(bytes: Buffer, d: PiholeData): Promise<void> {
  const { DatabaseSync } = await import("node:sqlite");
  const path = join(tmpdir(), `gatehouse-import-${randomUUID()}.db`);
  await writeFile(path, bytes, { mode: 0o600 });
  try {
    const db = new DatabaseSync(path, { readOnly: true });
    try {
      const tables = new Set(
        (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Row[]).map(
          (r) => txt(r["name"]),
        ),
      );
      if (!tables.has("domainlist") || !tables.has("adlist"))
        throw new ImportInputError(
          "not a Pi-hole gravity.db: it has no domainlist and adlist tables",
        );
      const all = (name: string) =>
        tables.has(name) ? (db.prepare(`SELECT * FROM "${name}"`).all() as Row[]) : undefined;
      fromRows(d, {
        adlist: all("adlist"),
        domainlist: all("domainlist"),
        group: all("group"),
        client: all("client"),
        client_by_group: all("client_by_group"),
        adlist_by_group: all("adlist_by_group"),
        domainlist_by_group: all("domainlist_by_group"),
      });
    } finally {
      db.close();
    }
  } catch (e) {
    if (e instanceof ImportInputError) throw e;
    throw new ImportInputError(`not a readable SQLite gravity.db: ${(e as Error).message}`);
  } finally {
    await rm(path, { force: true });
  }
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}

function readToml(text: string, d: PiholeData): void {
  const t = parseToml(text);
  const dns = (t["dns"] ?? {}) as TomlTable;
  d.upstreams = strings(dns["upstreams"]);
  d.revServers = strings(dns["revServers"]);
  d.hosts = strings(dns["hosts"]);
  d.cnames = strings(dns["cnameRecords"]);
  d.settingsSource = "pihole.toml";
}

function readSetupVars(text: string, d: PiholeData): void {
  const vars = new Map<string, string>();
  for (const line of text.split("\n")) {
    const [, name, value] = /^\s*([A-Z0-9_]+)=(.*)$/.exec(line) ?? [];
    if (name !== undefined && value !== undefined) {
      vars.set(name, value.trim().replace(/^"(.*)"$/, "$1"));
    }
  }
  for (let i = 1; i <= 32; i++) {
    const v = vars.get(`PIHOLE_DNS_${i}`);
    if (v) d.upstreams.push(v);
  }
  const on = vars.get("REV_SERVER") ?? vars.get("CONDITIONAL_FORWARDING");
  const cidr = vars.get("REV_SERVER_CIDR") ?? vars.get("CONDITIONAL_FORWARDING_REVERSE");
  const target = vars.get("REV_SERVER_TARGET") ?? vars.get("CONDITIONAL_FORWARDING_IP");
  const domain = vars.get("REV_SERVER_DOMAIN") ?? vars.get("CONDITIONAL_FORWARDING_DOMAIN");
  if (on === "true" && target) d.revServers.push(`true,${cidr ?? ""},${target},${domain ?? ""}`);
  d.settingsSource = "setupVars.conf";
}

/** Read a gravity.db or a Teleporter backup (v6 ZIP, v5 tar.gz) into the model. */
export async function readPihole(bytes: Buffer): Promise<{ data: PiholeData; notes: string[] }> {
  const d = empty();
  const notes: string[] = [];
  if (bytes.subarray(0, 16).toString("latin1") === "SQLite format 3\0") {
    await readGravity(bytes, d);
    notes.push(
      "a gravity.db has no upstreams, conditional forwarding or local DNS records: import a Teleporter backup for those",
    );
    return { data: d, notes };
  }
  let files: Map<string, Buffer>;
  try {
    if (isZip(bytes)) files = readZip(bytes);
    else if (isGzip(bytes)) files = readTarGz(bytes);
    else
      throw new ImportInputError(
        "not a Pi-hole gravity.db (SQLite) or Teleporter backup (.zip from v6, .tar.gz from v5)",
      );
  } catch (e) {
    if (e instanceof ArchiveError) throw new ImportInputError(e.message);
    throw e;
  }
  const find = (suffix: string) => {
    for (const [k, v] of files) if (k === suffix || k.endsWith(`/${suffix}`)) return v;
    return undefined;
  };
  const gravity = find("gravity.db");
  const toml = find("pihole.toml");
  if (gravity) await readGravity(gravity, d);
  if (toml) readToml(toml.toString("utf8"), d);
  if (!gravity) {
    // v5: one JSON file per table (the domainlist split by type).
    const json = (name: string): Row[] | undefined => {
      const f = find(name);
      if (!f) return undefined;
      try {
        const v = JSON.parse(f.toString("utf8")) as unknown;
        return Array.isArray(v) ? (v as Row[]) : undefined;
      } catch {
        throw new ImportInputError(`${name} in the backup is not JSON`);
      }
    };
    const typed = (name: string, type: number) => (json(name) ?? []).map((r) => ({ ...r, type }));
    const domainlist = [
      ...typed("whitelist.exact.json", 0),
      ...typed("blacklist.exact.json", 1),
      ...typed("whitelist.regex.json", 2),
      ...typed("blacklist.regex.json", 3),
    ];
    if (!find("adlist.json") && domainlist.length === 0)
      throw new ImportInputError(
        "the archive holds neither gravity.db nor Pi-hole v5 Teleporter tables (adlist.json, …)",
      );
    fromRows(d, {
      adlist: json("adlist.json"),
      domainlist,
      group: json("group.json"),
      client: json("client.json"),
      client_by_group: json("client_by_group.json"),
      adlist_by_group: json("adlist_by_group.json"),
      domainlist_by_group: json("domainlist_by_group.json"),
    });
  }
  if (!toml) {
    const sv = find("setupVars.conf");
    if (sv) readSetupVars(sv.toString("utf8"), d);
    const custom = find("custom.list");
    if (custom) d.hosts.push(...custom.toString("utf8").split("\n"));
    const cname = find("05-pihole-custom-cname.conf");
    if (cname)
      for (const line of cname.toString("utf8").split("\n")) {
        const target = /^\s*cname=(.+)$/.exec(line)?.[1];
        if (target !== undefined) d.cnames.push(target.trim());
      }
  }
  if (!d.settingsSource)
    notes.push(
      "the backup has no pihole.toml or setupVars.conf: upstreams and conditional forwarding are not imported",
    );
  return { data: d, notes };
}

const TYPE_NAMES = ["allowed", "denied", "allowed (regex)", "denied (regex)"];

/** Map Pi-hole's model to a plan. */
export function planPihole(d: PiholeData, notes: readonly string[] = []): ImportPlan {
  const plan = emptyPlan("pihole");
  for (const n of notes) plan.notMapped.push({ item: "(file)", reason: n });
  const groups = new Map(d.groups.map((g) => [g.id, g]));
  const clientsOf = new Map<number, string[]>();
  const clientById = new Map(d.clients.map((c) => [c.id, c]));
  const reported = new Set<number>();
  for (const [cid, gid] of d.clientGroups) {
    const c = clientById.get(cid);
    if (!c) continue;
    const net = clientNetwork(c.ip);
    if (net === undefined) {
      if (!reported.has(cid))
        plan.notMapped.push({
          item: `client ${c.ip}${c.comment ? ` (${c.comment})` : ""}`,
          reason:
            "Gatehouse scopes policies by client address or network; MAC addresses, host names and interfaces cannot be matched",
        });
      reported.add(cid);
      continue;
    }
    const list = clientsOf.get(gid) ?? [];
    list.push(net);
    clientsOf.set(gid, list);
  }
  // Clients outside the Default group do not get its lists and domains (Pi-hole's rule).
  const outsideDefault: string[] = [];
  const defaultOn = groups.get(0)?.enabled !== false;
  for (const c of d.clients) {
    const net = clientNetwork(c.ip);
    const gs = d.clientGroups.filter(([cid]) => cid === c.id).map(([, g]) => g);
    if (net !== undefined && (!defaultOn || !gs.includes(0))) outsideDefault.push(net);
  }
  outsideDefault.sort();
  /** An entry's scope: [] = everyone; a list of networks; undefined = not applied. */
  const scopeOf = (
    pairs: [number, number][],
    id: number,
    what: string,
  ): { key: string; clients: string[]; except: string[] } | undefined => {
    const gids = pairs.filter(([x]) => x === id).map(([, g]) => g);
    const enabled = gids.flatMap((g) => {
      const group = groups.get(g);
      return group?.enabled ? [group] : [];
    });
    if (gids.length === 0 || enabled.length === 0) {
      plan.notMapped.push({
        item: what,
        reason: "it is in no enabled group, so Pi-hole does not apply it",
      });
      return undefined;
    }
    if (enabled.some((g) => g.id === 0)) return { key: "", clients: [], except: outsideDefault };
    const clients = [...new Set(enabled.flatMap((g) => clientsOf.get(g.id) ?? []))].sort();
    const names = enabled.map((g) => g.name).sort();
    if (clients.length === 0) {
      plan.notMapped.push({
        item: what,
        reason: `its groups (${names.join(", ")}) have no clients given by address or network`,
      });
      return undefined;
    }
    return { key: names.join("_"), clients, except: [] };
  };

  // Local DNS records first: Pi-hole answers them before any blocking.
  const records = new Map<string, string[]>();
  for (const raw of d.hosts) {
    const line = raw.replace(/#.*$/, "").trim();
    if (!line) continue;
    const [ip, ...names] = line.split(/\s+/);
    if (
      ip === undefined ||
      clientNetwork(ip) === undefined ||
      ip.includes("/") ||
      names.length === 0
    ) {
      plan.notMapped.push({
        item: `local DNS record ${JSON.stringify(raw.trim())}`,
        reason: "expected `ADDRESS NAME…`",
      });
      continue;
    }
    for (const n of names) {
      const name = domainOrUndefined(n);
      if (!name) {
        plan.notMapped.push({ item: `local DNS record ${n}`, reason: "not a valid domain name" });
        continue;
      }
      records.set(name, [...(records.get(name) ?? []), ip]);
    }
  }
  plan.policies.push(...overridePolicies("pihole", records));
  for (const raw of d.cnames) {
    const [a, b] = raw.split(",").map((s) => s.trim());
    const name = domainOrUndefined(a ?? "");
    const target = domainOrUndefined(b ?? "");
    if (!name || !target) {
      plan.notMapped.push({
        item: `local CNAME ${JSON.stringify(raw)}`,
        reason: "expected `name,target`",
      });
      continue;
    }
    plan.policies.push(cnamePolicy("pihole", name, target));
  }

  // Exact and regex domains, per type and scope. Allow before deny, as Pi-hole decides.
  const exact = new Map<
    string,
    { type: number; clients: string[]; except: string[]; groups: string; items: string[] }
  >();
  const regexAllow: PlannedPolicy[] = [];
  const regexDeny: PlannedPolicy[] = [];
  for (const e of d.domains) {
    const label = `${TYPE_NAMES[e.type] ?? `type ${e.type}`} ${JSON.stringify(e.domain)}`;
    if (!e.enabled) {
      plan.notMapped.push({ item: label, reason: "disabled in Pi-hole" });
      continue;
    }
    if (e.type < 0 || e.type > 3) {
      plan.notMapped.push({ item: label, reason: "unknown domainlist type" });
      continue;
    }
    const scope = scopeOf(d.domainGroups, e.id, label);
    if (!scope) continue;
    if (e.type <= 1) {
      const name = domainOrUndefined(e.domain);
      if (!name) {
        plan.notMapped.push({ item: label, reason: "not a valid domain name" });
        continue;
      }
      const key = `${e.type}|${scope.key}`;
      const entry = exact.get(key) ?? {
        type: e.type,
        clients: scope.clients,
        except: scope.except,
        groups: scope.key,
        items: [],
      };
      entry.items.push(name);
      exact.set(key, entry);
      continue;
    }
    // Pi-hole's regex extensions: `;querytype=…` maps, the others do not.
    const [re = "", ...opts] = e.domain.split(";");
    let extra = "";
    let bad: string | undefined;
    for (const o of opts) {
      const qt = /^querytype=(!?)([A-Za-z0-9,]+)$/.exec(o.trim());
      if (qt) {
        // Both groups take part in every match: the default never applies.
        const [, not, types = ""] = qt;
        const set = types
          .split(",")
          .map((t) => quote(t.toUpperCase()))
          .join(" ");
        extra = ` and ${not ? "not " : ""}dns.query_rtype in {${set}}`;
      } else bad = `the Pi-hole regex option ;${o} has no equivalent`;
    }
    const expr = `${regexExpression(re)}${extra}`;
    const problem = bad ?? regexProblem(expr);
    if (problem) {
      plan.notMapped.push({ item: label, reason: `not mappable: ${problem}` });
      continue;
    }
    (e.type === 2 ? regexAllow : regexDeny).push({
      name: `pihole: ${e.type === 2 ? "allow" : "deny"} regex ${e.domain}`.slice(0, 200),
      ...(e.comment ? { description: e.comment.slice(0, 2000) } : {}),
      expression: scoped(expr, scope.clients, scope.except),
      action: e.type === 2 ? "allow" : "block",
    });
  }
  const exactPolicies = (type: number) => {
    for (const g of exact.values()) {
      if (g.type !== type) continue;
      const verb = type === 0 ? "allowed" : "denied";
      const name = listName(plan, verb, g.groups);
      plan.lists.push({
        name,
        description: `Pi-hole's exact ${verb} domains${g.groups ? ` for groups ${g.groups}` : ""}`,
        items: [...new Set(g.items)],
      });
      plan.policies.push({
        name: `pihole: ${verb} domains${g.groups ? ` (${g.groups})` : ""}`,
        expression: scoped(`dns.fqdn in $${name}`, g.clients, g.except),
        action: type === 0 ? "allow" : "block",
      });
    }
  };
  exactPolicies(0);
  plan.policies.push(...regexAllow);
  exactPolicies(1);
  plan.policies.push(...regexDeny);

  // Adlists → subscriptions; allowlist subscriptions (v6 type 1) before blocklists.
  for (const type of [1, 0]) {
    for (const a of d.adlists) {
      if (a.type !== type) continue;
      const label = `adlist ${a.address}`;
      if (!a.enabled) {
        plan.notMapped.push({ item: label, reason: "disabled in Pi-hole" });
        continue;
      }
      if (!/^https?:\/\//i.test(a.address)) {
        plan.notMapped.push({
          item: label,
          reason:
            "only http and https URLs can be subscribed (a local file is on the Pi-hole's disk)",
        });
        continue;
      }
      if (a.type !== 0 && a.type !== 1) {
        plan.notMapped.push({ item: label, reason: `unknown adlist type ${a.type}` });
        continue;
      }
      const scope = scopeOf(d.adlistGroups, a.id, label);
      if (!scope) continue;
      const name = listName(plan, a.type === 1 ? "allowlist" : "adlist", String(a.id));
      plan.lists.push({
        name,
        description: (a.comment || a.address).slice(0, 2000),
        items: [],
        subscription: { url: a.address, format: "auto" },
      });
      plan.policies.push({
        name: `pihole: ${a.type === 1 ? "allowlist" : "adlist"} ${a.id} ${a.address}`.slice(0, 200),
        expression: scoped(`dns.fqdn in $${name}`, scope.clients, scope.except),
        action: a.type === 1 ? "allow" : "block",
      });
    }
  }

  // Upstreams and conditional forwarding.
  for (const u of d.upstreams) {
    const r = parseUpstream(u);
    if (r.ok) plan.upstreams.push(r.value);
    else plan.notMapped.push({ item: `upstream ${u}`, reason: r.reason });
  }
  for (const rs of d.revServers) {
    const [enabled, cidr, server, domain] = rs.split(",").map((s) => s.trim());
    if (enabled !== "true") continue;
    const up = parseUpstream(server ?? "");
    if (!up.ok) {
      plan.notMapped.push({ item: `conditional forwarding ${rs}`, reason: up.reason });
      continue;
    }
    const suffixes: string[] = [];
    const dom = domain ? domainOrUndefined(domain) : undefined;
    if (dom) suffixes.push(dom);
    if (cidr) {
      const rz = reverseZone(cidr);
      if (rz) suffixes.push(rz);
      else
        plan.notMapped.push({
          item: `conditional forwarding of reverse lookups for ${cidr}`,
          reason: "only networks on an octet boundary (/8, /16, /24) map to one reverse zone",
        });
    }
    for (const suffix of suffixes)
      plan.conditionalForwarding.push({ suffix, upstreams: [up.value] });
  }
  return plan;
}
