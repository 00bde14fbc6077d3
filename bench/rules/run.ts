// Rules-engine benchmark: @gatehouse/rules vs jexl and filtrex on the same policies and inputs.
// Run: node bench/rules/run.ts   (not a test; prints a Markdown table)
// Every engine gets its natural encoding of the policy (jexl/filtrex have no IP or list type:
// IPs are numeric ranges, the big list is a Set behind a function), so the comparison is of
// expression evaluation, not of missing features.
import { createRequire } from "node:module";
import { compileExpression } from "filtrex";
import { createListSet, type ExecutionContext, Scheme } from "../../packages/rules/src/index.ts";

interface JexlExpression {
  evalSync(context: object): unknown;
}
interface JexlInstance {
  compile(expr: string): JexlExpression;
  addTransform(name: string, fn: (v: unknown) => unknown): void;
  addBinaryOp(op: string, precedence: number, fn: (a: unknown, b: unknown) => unknown): void;
}
// jexl ships no type declarations; load it through require and describe the part we use.
const require = createRequire(import.meta.url);
const { Jexl } = require("jexl") as { Jexl: new () => JexlInstance };

const scheme = new Scheme({
  fields: {
    "dns.fqdn": "Bytes",
    "dns.domains": "Array<Bytes>",
    "dns.query_rtype": "Bytes",
    "dns.src_ip": "Ip",
    "dns.content_category": "Array<Int>",
    "http.host": "Bytes",
    "http.method": "Bytes",
    "http.path": "Bytes",
    "tcp.port": "Int",
    ssl: "Bool",
    "net.src.ip": "Ip",
  },
});

const BIG = 100_000;
const bigNames: string[] = [];
for (let i = 0; i < BIG; i++) bigNames.push(`blocked-${i}.example`);
const bigSet = new Set(bigNames);
const lists = createListSet().addBytes("big", bigNames);

const jexl = new Jexl();
const regexCache = new Map<string, RegExp>();
jexl.addBinaryOp("=~", 20, (a, b) => {
  let re = regexCache.get(b as string);
  if (!re) {
    re = new RegExp(b as string);
    regexCache.set(b as string, re);
  }
  return re.test(a as string);
});
jexl.addTransform("inBig", (v) => bigSet.has(v as string));

const ipNum = (s: string) => s.split(".").reduce((a, o) => a * 256 + Number(o), 0);
const cidrRange = (c: string): [number, number] => {
  const [a = "", l = ""] = c.split("/");
  const size = 2 ** (32 - Number(l));
  return [ipNum(a), ipNum(a) + size - 1];
};
const CIDRS = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "198.51.100.0/24"];
const cidrClause = (andOp: string, orOp: string) =>
  CIDRS.map(cidrRange)
    .map(([lo, hi]) => `(ip >= ${lo} ${andOp} ip <= ${hi})`)
    .join(` ${orOp} `);

/** One input: fields for our context and the equivalent plain object for jexl/filtrex. */
interface Input {
  ours: Record<string, unknown>;
  plain: Record<string, unknown>;
}

const domains = (fqdn: string) => {
  const labels = fqdn.split(".");
  return labels.map((_, i) => labels.slice(i).join("."));
};
const dnsInput = (fqdn: string, rtype: string, ip: string, cats: number[]): Input => ({
  ours: {
    "dns.fqdn": fqdn,
    "dns.domains": domains(fqdn),
    "dns.query_rtype": rtype,
    "dns.src_ip": ip,
    "dns.content_category": cats,
  },
  plain: { fqdn, domains: domains(fqdn), rtype, ip: ipNum(ip), cats },
});
const httpInput = (
  host: string,
  method: string,
  path: string,
  port: number,
  ssl: boolean,
  ip: string,
): Input => ({
  ours: {
    "http.host": host,
    "http.method": method,
    "http.path": path,
    "tcp.port": port,
    ssl,
    "net.src.ip": ip,
  },
  plain: { host, method, path, port, ssl, ip: ipNum(ip) },
});

interface Policy {
  name: string;
  ours: string;
  jexl: string;
  filtrex: string;
  inputs: Input[];
}

const dnsInputs = [
  dnsInput("www.sub.example.com", "A", "192.168.1.20", [3, 17]),
  dnsInput("cdn.other.net", "AAAA", "203.0.113.9", [5]),
];
const httpInputs = [
  httpInput("www.example.com", "GET", "/api/v1/users", 443, true, "10.1.2.3"),
  httpInput("static.example.org", "POST", "/upload", 8080, false, "203.0.113.9"),
];

const policies: Policy[] = [
  {
    name: "domain match over dns.domains",
    ours: 'any(dns.domains[*] == "example.com")',
    jexl: "'example.com' in domains",
    filtrex: '"example.com" in domains',
    inputs: dnsInputs,
  },
  {
    name: "IP in a 5-CIDR set",
    ours: `net.src.ip in {${CIDRS.join(" ")}}`,
    jexl: cidrClause("&&", "||"),
    filtrex: cidrClause("and", "or"),
    inputs: httpInputs,
  },
  {
    name: "10-clause and/or mix",
    ours: '(tcp.port == 443 or tcp.port == 8443) and (http.method == "GET" or http.method == "HEAD") and ssl and http.host != "internal.example" and (http.path contains "/api/" or http.path contains "/v2/") and tcp.port < 9000 and tcp.port > 0 and http.host != ""',
    jexl: "(port == 443 || port == 8443) && (method == 'GET' || method == 'HEAD') && ssl && host != 'internal.example' && ('/api/' in path || '/v2/' in path) && port < 9000 && port > 0 && host != ''",
    filtrex:
      '(port == 443 or port == 8443) and (method == "GET" or method == "HEAD") and ssl and host != "internal.example" and (path ~= "/api/" or path ~= "/v2/") and port < 9000 and port > 0 and host != ""',
    inputs: httpInputs,
  },
  {
    name: "regex match",
    // "[.]" rather than "\." keeps the three engines' string-escaping rules out of the way.
    ours: 'http.host matches "^(www[.])?example[.](com|org)$"',
    jexl: "host =~ '^(www[.])?example[.](com|org)$'",
    filtrex: 'host ~= "^(www[.])?example[.](com|org)$"',
    inputs: httpInputs,
  },
  {
    name: "100,000-entry list lookup",
    ours: "dns.fqdn in $big",
    jexl: "fqdn|inBig",
    filtrex: "inBig(fqdn)",
    inputs: [
      dnsInput("blocked-77777.example", "A", "10.0.0.1", []),
      dnsInput("fine.example", "A", "10.0.0.1", []),
    ],
  },
  {
    name: "typical 5-clause DNS policy",
    ours: 'any(dns.domains[*] == "example.com") and dns.query_rtype in {"A" "AAAA"} and not dns.src_ip in {10.0.0.0/8 192.168.0.0/16} and not any(dns.content_category[*] in {1 17 85}) and dns.fqdn != "safe.example.com"',
    jexl: `'example.com' in domains && (rtype == 'A' || rtype == 'AAAA') && !((ip >= ${ipNum("10.0.0.0")} && ip <= ${ipNum("10.255.255.255")}) || (ip >= ${ipNum("192.168.0.0")} && ip <= ${ipNum("192.168.255.255")})) && !(1 in cats || 17 in cats || 85 in cats) && fqdn != 'safe.example.com'`,
    filtrex: `"example.com" in domains and rtype in ("A", "AAAA") and not ((ip >= ${ipNum("10.0.0.0")} and ip <= ${ipNum("10.255.255.255")}) or (ip >= ${ipNum("192.168.0.0")} and ip <= ${ipNum("192.168.255.255")})) and not (1 in cats or 17 in cats or 85 in cats) and fqdn != "safe.example.com"`,
    inputs: [
      dnsInput("www.example.com", "A", "203.0.113.5", [3, 4]),
      dnsInput("cdn.other.net", "AAAA", "192.168.1.20", [17]),
    ],
  },
];

/** ns per call of fn(i) over `iterations` calls after a warm-up; the best of 5 rounds. */
function measure(fn: (i: number) => unknown, iterations: number): number {
  let sink = 0;
  for (let i = 0; i < Math.min(iterations, 200_000); i++) if (fn(i)) sink++;
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 5; round++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) if (fn(i)) sink++;
    const ns = Number(process.hrtime.bigint() - t0) / iterations;
    if (ns < best) best = ns;
  }
  if (sink < 0) console.log(sink);
  return best;
}

const fmt = (ns: number) => (ns >= 100 ? ns.toFixed(0) : ns.toFixed(1));

console.log(`Node ${process.version}, ${process.platform}/${process.arch}\n`);
console.log(
  "| policy | @gatehouse/rules ns/eval | jexl ns/eval | filtrex ns/eval | vs jexl | vs filtrex |",
);
console.log("|---|---:|---:|---:|---:|---:|");
for (const p of policies) {
  const compiled = scheme.compile(p.ours);
  if (!compiled.ok) throw new Error(`${p.name}: ${compiled.error.render()}`);
  const filter = compiled.value;
  const contexts: ExecutionContext[] = p.inputs.map((input) => {
    const ctx = scheme.context(lists);
    for (const [k, v] of Object.entries(input.ours)) ctx.setText(k, v);
    return ctx;
  });
  const jx = jexl.compile(p.jexl);
  const fx = compileExpression(p.filtrex, {
    extraFunctions: { inBig: (v: unknown) => bigSet.has(v as string) },
  });
  const plains = p.inputs.map((i) => i.plain);
  // All three engines must agree on every input before we time them.
  for (const [i, ctx] of contexts.entries()) {
    const plain = plains[i] ?? {};
    const a = filter.execute(ctx);
    const b = Boolean(jx.evalSync(plain));
    const c = fx(plain) === true;
    if (a !== b || a !== c)
      throw new Error(`${p.name}: engines disagree on input ${i}: ${a} ${b} ${c}`);
  }
  const n = contexts.length;
  const [ctx0] = contexts;
  if (ctx0 === undefined) throw new Error(`${p.name}: no inputs`);
  // i % n is below both lengths (one context and one plain object per input).
  const ours = measure((i) => filter.execute(contexts[i % n] ?? ctx0), 2_000_000);
  const j = measure((i) => jx.evalSync(plains[i % n] ?? {}), 50_000);
  const f = measure((i) => fx(plains[i % n] ?? {}), 500_000);
  console.log(
    `| ${p.name} | ${fmt(ours)} | ${fmt(j)} | ${fmt(f)} | ${(j / ours).toFixed(0)}× | ${(f / ours).toFixed(1)}× |`,
  );
}

// Compile time: 1,000 distinct 5-clause policies, each engine compiling all of them.
const N = 1000;
const oursSrc: string[] = [];
const jexlSrc: string[] = [];
const filtrexSrc: string[] = [];
for (let i = 0; i < N; i++) {
  oursSrc.push(
    `any(dns.domains[*] == "d${i}.example") and dns.query_rtype in {"A" "AAAA"} and not dns.src_ip in {10.${i % 256}.0.0/16} and not any(dns.content_category[*] in {${i % 100} ${(i + 1) % 100}}) and dns.fqdn matches "^w${i}[.]"`,
  );
  jexlSrc.push(
    `'d${i}.example' in domains && (rtype == 'A' || rtype == 'AAAA') && !(ip >= ${i} && ip <= ${i + 65535}) && !(${i % 100} in cats || ${(i + 1) % 100} in cats) && fqdn =~ '^w${i}[.]'`,
  );
  filtrexSrc.push(
    `"d${i}.example" in domains and rtype in ("A", "AAAA") and not (ip >= ${i} and ip <= ${i + 65535}) and not (${i % 100} in cats or ${(i + 1) % 100} in cats) and fqdn ~= "^w${i}[.]"`,
  );
}
function timeCompile(fn: () => void): number {
  fn(); // warm-up round (JIT), then the measured one
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}
const oursMs = timeCompile(() => {
  for (const s of oursSrc) if (!scheme.compile(s).ok) throw new Error(s);
});
const jexlMs = timeCompile(() => {
  for (const s of jexlSrc) jexl.compile(s);
});
const filtrexMs = timeCompile(() => {
  for (const s of filtrexSrc) compileExpression(s);
});
console.log(
  `\nCompiling ${N} five-clause policies (parse + type-check + compile, regex included):`,
);
console.log(
  `@gatehouse/rules ${oursMs.toFixed(0)} ms, jexl ${jexlMs.toFixed(0)} ms, filtrex ${filtrexMs.toFixed(0)} ms`,
);
