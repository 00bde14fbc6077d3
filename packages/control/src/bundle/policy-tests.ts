// Policy tests: cases stored with the configuration, each a DNS query or a proxied HTTP request
// and the action (and deciding policy) it expects. They run against a draft — the content a
// publish would ship, or a YAML document — with the fields filled as the edge fills them
// (edge dns/stages/rule-fields.ts, proxy/policy-fields.ts) and the policies in the edge's order
// (DNS query phase, then response phase when the case gives an answer; network before HTTP,
// HTTP `do_not_inspect` first; precedence; first match wins; no match allows).
//
// DNS cases follow the edge's pipeline (edge dns/pipeline.ts) with the edge's own code: domain
// lists are the edge's (`$dnstype`, `$client`, `$important`, `@@` read the case's type and
// source address), a query-phase block meets the blocking pauses (edge policy/pauses.ts), then
// the local zones answer their names (edge dns/local-zones.ts), so response-phase policies never
// see those names. A pause depends on the time: a case without `at` reports the configuration's
// verdict with a note that the edge allows it while the pause lasts; a case with `at` gets the
// edge's answer at that moment (allowed, with the note).

import { isIP } from "node:net";
import {
  type ConfigBundle,
  domainsOf,
  gatewaySchemes,
  type Location,
  type PolicyTestCase,
  type PolicyTestReport,
  type PolicyTestResult,
  type PolicyType,
} from "@gatehouse/contract";
import { typeNumber } from "@gatehouse/edge/dns-types";
import { buildListSet, type EdgeListSet, ListError } from "@gatehouse/edge/lists";
import { LocalZones } from "@gatehouse/edge/local-zones";
import { BlockingPauses } from "@gatehouse/edge/pauses";
import type { ExecutionContext } from "@gatehouse/rules";
import { ACCOUNT_DOCUMENTS, readAccountDocument } from "../account-documents.ts";
import { buildLists, compileDraft, type DraftPolicy, listTypesOf } from "../analytics/simulate.ts";
import { LocationsByAddress } from "../clients/location-of.ts";
import type { Db } from "../context.ts";

/** The parts of a bundle the tests read. */
export type TestedConfig = Pick<ConfigBundle, "policies" | "lists" | "locations" | "identities"> &
  Partial<Pick<ConfigBundle, "pauses" | "localZones">>;

/** Where a case sits in the YAML it came from (1-based), when known. */
export type SpanOf = (path: string) => { line: number; column: number } | undefined;

/** A case that cannot run as written (unknown location, malformed request). */
class CaseError extends Error {}

interface Decision {
  action: string;
  policy: DraftPolicy | undefined;
  notes?: string[];
}

class Evaluator {
  readonly #config: TestedConfig;
  /** Each type's compiled policies and the context they run against. */
  readonly #byType: Readonly<
    Record<PolicyType, { readonly drafts: DraftPolicy[]; readonly ctx: ExecutionContext }>
  >;
  readonly #names = new Map<string, string>();
  readonly #locations: LocationsByAddress<Location>;
  /** The edge's lists for DNS cases (modifiers read the query's type and client). */
  readonly #dnsLists: EdgeListSet | undefined;
  /** Why the DNS lists could not be built (every DNS case then fails with it). */
  readonly #dnsListsError: string | undefined;
  readonly #pauses: BlockingPauses | undefined;
  readonly #zones: LocalZones | undefined;

  constructor(config: TestedConfig) {
    this.#config = config;
    const warnings: string[] = [];
    const lists = buildLists(config.lists, warnings);
    const types = listTypesOf(config.lists);
    try {
      this.#dnsLists = buildListSet(config.lists);
    } catch (e) {
      if (!(e instanceof ListError)) throw e;
      this.#dnsListsError = e.message;
    }
    const compiled = (type: PolicyType) => ({
      drafts: compileDraft(type, config.policies, types),
      ctx: gatewaySchemes()[type].context(
        type === "dns" && this.#dnsLists ? this.#dnsLists : lists,
      ),
    });
    this.#byType = { dns: compiled("dns"), http: compiled("http"), net: compiled("net") };
    this.#pauses = BlockingPauses.of(config.pauses);
    const zones = config.localZones ?? [];
    this.#zones = zones.length > 0 ? new LocalZones(zones, 1) : undefined;
    for (const p of config.policies) this.#names.set(p.id, p.name);
    this.#locations = new LocationsByAddress(config.locations);
  }

  policyName(id: string): string | null {
    return this.#names.get(id) ?? null;
  }

  /** The named location, or the most specific one whose networks hold `ip`. */
  location(name: string | undefined, ip: string | undefined): Location | undefined {
    if (name !== undefined) {
      const byName =
        this.#config.locations.find((l) => l.name === name) ??
        this.#config.locations.find((l) => l.name.toLowerCase() === name.toLowerCase());
      if (!byName) throw new CaseError(`no location named "${name}" in the configuration`);
      return byName;
    }
    if (ip === undefined) return undefined;
    return this.#locations.of(ip);
  }

  #match(type: PolicyType, at: number, fill: (ctx: ExecutionContext) => void, response: boolean) {
    const { drafts, ctx } = this.#byType[type];
    ctx.reset();
    fill(ctx);
    for (const p of drafts) {
      if (p.responsePhase !== response) continue;
      if (p.schedule !== undefined && !p.schedule.isActive(at)) continue;
      if (p.filter.execute(ctx)) return p;
    }
    return undefined;
  }

  dns(c: NonNullable<PolicyTestCase["dns"]>, at: number, atGiven: boolean): Decision {
    if (this.#dnsListsError !== undefined) throw new CaseError(this.#dnsListsError);
    const source = ip(c.sourceIp, "dns.sourceIp");
    const loc = this.location(c.location, source);
    const qname = c.query.toLowerCase().replace(/\.$/, "");
    if (!/^[a-z0-9_*-]+(\.[a-z0-9_*-]+)*$/.test(qname))
      throw new CaseError(`dns.query "${c.query}" is not a domain name`);
    const qtypeName = (c.type ?? "A").toUpperCase();
    const qtype = typeNumber(qtypeName);
    if (qtype === undefined) throw new CaseError(`dns.type "${c.type}" is not a DNS query type`);
    const transport = c.transport ?? "udp";
    const fill = (ctx: ExecutionContext) => {
      ctx.set("dns.fqdn", qname);
      ctx.set("dns.domains", domainsOf(qname));
      ctx.set("dns.query_rtype", qtypeName);
      ctx.set("dns.query_class", "IN");
      if (loc) ctx.set("dns.location", loc.id);
      if (loc) ctx.setText("dns.location_name", loc.name);
      if (source !== undefined) ctx.set("dns.src_ip", source);
      if (transport === "doh" && loc?.dohToken !== undefined)
        ctx.set("dns.doh_subdomain", loc.dohToken);
      ctx.set("dns.transport", transport);
    };
    // The lists' `$dnstype`/`$client` rules read these, as the edge's list-match.ts sets them.
    const match = (fillAll: (ctx: ExecutionContext) => void, response: boolean) => {
      this.#dnsLists?.query.begin(qtype, qtypeName, source);
      try {
        return this.#match("dns", at, fillAll, response);
      } finally {
        this.#dnsLists?.query.end();
      }
    };
    const notes: string[] = [];
    const q = match(fill, false);
    if (q && !(q.action === "block" && this.#pauses?.isPaused(loc?.id, at, source))) {
      return { action: q.action, policy: q };
    }
    if (q) {
      // Edge apply-policy.ts: a block while paused answers as allowed (reason blocking_paused).
      notes.push(pauseNote(loc, at, atGiven));
      if (!atGiven) return { action: q.action, policy: q, notes };
    }
    // Edge local-zone stage: after the query phase, before resolution and the response phase.
    const zone = this.#zones?.find(qname, loc?.id);
    if (zone) {
      const r = zone.lookup(qname, qname, qtype);
      if (r.leaves === undefined) {
        notes.push(
          `answered by local zone "${zone.apex}" (${r.rcode}): response-phase policies do not see it`,
        );
        return { action: "allow", policy: q, notes };
      }
      notes.push(`local zone "${zone.apex}" answers with a CNAME to ${r.leaves}`);
    }
    if (q) return { action: "allow", policy: q, notes };
    const a = c.answer;
    if (a === undefined) return { action: "allow", policy: undefined, notes };
    const ips = (a.ips ?? []).map((x, i) => checkIp(x, `dns.answer.ips[${i}]`));
    const r = match((ctx) => {
      fill(ctx);
      ctx.set("dns.response.rcode", (a.rcode ?? "NOERROR").toUpperCase());
      ctx.set("dns.resolved_ips", ips);
      ctx.set(
        "dns.response.cname",
        (a.cnames ?? []).map((n) => n.toLowerCase().replace(/\.$/, "")),
      );
    }, true);
    if (r?.action === "block" && this.#pauses?.isPaused(loc?.id, at, source)) {
      notes.push(pauseNote(loc, at, atGiven));
      return { action: atGiven ? "allow" : "block", policy: r, notes };
    }
    return { action: r?.action ?? "allow", policy: r, notes };
  }

  http(c: NonNullable<PolicyTestCase["http"]>, at: number): Decision {
    const req = parseRequest(c.request);
    const source = ip(c.sourceIp, "http.sourceIp");
    const loc = this.location(c.location, source);
    let identity: { email?: string; name: string; groups: string[] } | undefined;
    if (c.user !== undefined) {
      const email = c.user.toLowerCase();
      const u = this.#config.identities?.users.find((x) => x.email.toLowerCase() === email);
      if (!u) throw new CaseError(`no user with email "${c.user}" in the configuration`);
      identity = { email: u.email, name: u.name ?? u.email, groups: c.groups ?? u.groups ?? [] };
    } else if (c.groups !== undefined) {
      identity = { name: "", groups: c.groups };
    }
    const isHostIp = isIP(req.host) !== 0;
    const common = (ctx: ExecutionContext) => {
      if (loc) ctx.setText("dns.location", loc.id);
      if (identity === undefined) return;
      if (identity.email !== undefined) ctx.setText("identity.email", identity.email);
      if (identity.name !== "") ctx.setText("identity.name", identity.name);
      ctx.setText("identity.groups.name", identity.groups);
    };
    const net = this.#match(
      "net",
      at,
      (ctx) => {
        if (source !== undefined) ctx.set("net.src.ip", source);
        if (isHostIp) ctx.set("net.dst.ip", req.host);
        ctx.set("net.dst.port", req.port);
        ctx.set("net.protocol", "tcp");
        ctx.set("net.connect.host", req.host);
        if (!isHostIp) {
          ctx.set("net.connect.domains", domainsOf(req.host));
          // Before a ClientHello is read the edge presumes the SNI is the requested host.
          ctx.set("net.sni.host", req.host);
          ctx.set("net.sni.domains", domainsOf(req.host));
        }
        ctx.set("net.sni.mismatch", false);
        common(ctx);
      },
      false,
    );
    if (net?.action === "block") return { action: "block", policy: net };
    // Inside a CONNECT tunnel TLS hides the request, unless the location inspects it.
    const tunnelled = req.method === "CONNECT" || req.scheme === "https";
    if (tunnelled && !(req.scheme === "https" && loc?.tlsInspection === true))
      return { action: net?.action ?? "allow", policy: net };
    const http = this.#match(
      "http",
      at,
      (ctx) => {
        ctx.set("http.conn.hostname", req.host);
        if (!isHostIp) ctx.set("http.conn.domains", domainsOf(req.host));
        else ctx.set("http.conn.dst_ip", req.host);
        if (source !== undefined) ctx.set("http.conn.src_ip", source);
        ctx.set("http.conn.dst_port", req.port);
        ctx.set("http.request.uri", req.uri);
        ctx.set("http.request.uri.path", req.path);
        ctx.set("http.request.uri.query", req.query);
        ctx.set(
          "http.request.uri.path_and_query",
          req.query === "" ? req.path : `${req.path}?${req.query}`,
        );
        ctx.set("http.request.method", req.method);
        ctx.set("http.request.version", "HTTP/1.1");
        const headers = new Map<string, string[]>([["host", [req.authority]]]);
        for (const [k, v] of Object.entries(c.headers ?? {})) {
          const name = k.toLowerCase();
          headers.set(name, [...(name === "host" ? [] : (headers.get(name) ?? [])), v]);
        }
        ctx.set("http.request.headers", headers);
        ctx.set("http.request.headers.names", [...headers.keys()]);
        common(ctx);
      },
      false,
    );
    const decided = http ?? net;
    return { action: decided?.action ?? "allow", policy: decided };
  }
}

/** A case without `at` keeps the configuration's verdict; with `at`, the edge's answer then. */
function pauseNote(loc: Location | undefined, at: number, atGiven: boolean): string {
  const whose = loc ? `location "${loc.name}"` : "every client";
  return atGiven
    ? `blocking is paused for ${whose} at ${new Date(at).toISOString()}: the edge answers this query as allowed (blocking_paused)`
    : `blocking is paused for ${whose} now: until the pause ends the edge answers this query as allowed (blocking_paused); the verdict shown is the configuration's`;
}

function ip(value: string | undefined, what: string): string | undefined {
  return value === undefined ? undefined : checkIp(value, what);
}

function checkIp(value: string, what: string): string {
  if (isIP(value) === 0) throw new CaseError(`${what} "${value}" is not an IP address`);
  return value;
}

interface ParsedRequest {
  method: string;
  scheme: "http" | "https" | "connect";
  host: string;
  port: number;
  authority: string;
  uri: string;
  path: string;
  query: string;
}

/** "GET http://intranet/a?b" or "CONNECT host:443" (a bare URL means GET). */
export function parseRequest(text: string): ParsedRequest {
  const [first = "", second, ...more] = text.trim().split(/\s+/);
  const [method, target] = second === undefined ? ["GET", first] : [first.toUpperCase(), second];
  if (more.length > 0 || !/^[A-Z]{1,20}$/.test(method))
    throw new CaseError(`http.request "${text}" is not "METHOD URL" or "CONNECT host:port"`);
  if (method === "CONNECT") {
    const m = /^(\[[0-9a-fA-F:.]+\]|[^\s:/]+):(\d{1,5})$/.exec(target);
    const port = m ? Number(m[2]) : 0;
    if (!m || port < 1 || port > 65535)
      throw new CaseError(`http.request "${text}": CONNECT needs host:port`);
    const [, bracketed = ""] = m;
    const host = bracketed.replace(/^\[|\]$/g, "").toLowerCase();
    return {
      method,
      scheme: "connect",
      host,
      port,
      authority: target,
      uri: target,
      path: "",
      query: "",
    };
  }
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    throw new CaseError(`http.request "${text}": "${target}" is not an absolute URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new CaseError(`http.request "${text}": the URL must be http:// or https://`);
  const scheme = url.protocol === "https:" ? "https" : "http";
  const host = url.hostname.replace(/^\[|\]$/g, "");
  return {
    method,
    scheme,
    host,
    port: url.port === "" ? (scheme === "https" ? 443 : 80) : Number(url.port),
    authority: url.host,
    uri: url.href,
    path: url.pathname,
    query: url.search.replace(/^\?/, ""),
  };
}

/** Run every case; a case that cannot run fails with the reason. */
export function runPolicyTests(
  config: TestedConfig,
  tests: readonly PolicyTestCase[],
  opts: { now?: number; spanOf?: SpanOf; base?: string } = {},
): PolicyTestReport {
  const results: PolicyTestResult[] = [];
  if (tests.length === 0) return { passed: 0, failed: 0, results };
  const ev = new Evaluator(config);
  const base = opts.base ?? "/tests";
  tests.forEach((c, i) => {
    const path = `${base}/${i}`;
    const span = opts.spanOf?.(path);
    const expected = {
      action: c.expect.action,
      ...(c.expect.policy !== undefined ? { policy: c.expect.policy } : {}),
    };
    const head = { name: c.name, path, ...(span ?? {}), expected };
    try {
      const { dns, http } = c;
      const notOne = () => new CaseError("a case has exactly one of dns or http");
      if ((dns === undefined) === (http === undefined)) throw notOne();
      let at = opts.now ?? Date.now();
      const atGiven = c.at !== undefined;
      if (c.at !== undefined) {
        at = Date.parse(c.at);
        if (!Number.isFinite(at)) throw new CaseError(`at "${c.at}" is not an ISO 8601 time`);
      }
      let d: Decision;
      if (dns !== undefined) d = ev.dns(dns, at, atGiven);
      else if (http !== undefined) d = ev.http(http, at);
      else throw notOne();
      const actual = {
        action: d.action,
        policyId: d.policy?.id ?? null,
        policyName: d.policy ? ev.policyName(d.policy.id) : null,
      };
      const why = mismatch(c, actual);
      results.push({
        ...head,
        passed: why === undefined,
        actual,
        ...(why !== undefined ? { message: why } : {}),
        ...(d.notes !== undefined && d.notes.length > 0 ? { notes: d.notes } : {}),
      });
    } catch (e) {
      if (!(e instanceof CaseError)) throw e;
      results.push({
        ...head,
        passed: false,
        actual: { action: "error", policyId: null, policyName: null },
        message: e.message,
      });
    }
  });
  const passed = results.filter((r) => r.passed).length;
  return { passed, failed: results.length - passed, results };
}

function describe(a: { action: string; policyId: string | null; policyName: string | null }) {
  return a.policyId === null
    ? `${a.action} (no policy matched)`
    : `${a.action} by policy "${a.policyName ?? a.policyId}"`;
}

function mismatch(
  c: PolicyTestCase,
  actual: { action: string; policyId: string | null; policyName: string | null },
): string | undefined {
  const want = c.expect.policy;
  const actionOk = actual.action === c.expect.action;
  const policyOk =
    want === undefined ||
    (want === null
      ? actual.policyId === null
      : actual.policyId === want || actual.policyName === want);
  if (actionOk && policyOk) return undefined;
  const wanted =
    want === undefined
      ? c.expect.action
      : want === null
        ? `${c.expect.action} (no policy matched)`
        : `${c.expect.action} by policy "${want}"`;
  return `expected ${wanted}, got ${describe(actual)}`;
}

/** One line per failed case, for error messages: `"name": expected …, got …`. */
export function failureSummary(report: PolicyTestReport): string {
  const failed = report.results.filter((r) => !r.passed);
  const first = failed[0];
  if (!first) return "";
  const more = failed.length > 1 ? ` (and ${failed.length - 1} more)` : "";
  return `policy test "${first.name}" failed: ${first.message ?? ""}${more}`;
}

/** The account's stored cases (none when it has never set any). */
export async function storedPolicyTests(db: Db, accountId: string): Promise<PolicyTestCase[]> {
  const v = await readAccountDocument(db, ACCOUNT_DOCUMENTS.policyTests, accountId);
  return (v as PolicyTestCase[] | undefined) ?? [];
}
