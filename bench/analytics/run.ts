// Analytics benchmark: ingest rate, top-10 blocked domains over N records, one log-search
// page, and a policy simulation of M logged queries against 100 policies; on DuckDB (a file in
// a temp data directory) and on ClickHouse when a server is available (CLICKHOUSE_URL or the
// Debian clickhouse-server binary). Not a test: it prints numbers for docs/benchmarks.md.
//
//   node bench/analytics/run.ts [--records=10000000] [--simulate=1000000] [--ingest=1000000]
//                               [--no-clickhouse]
//
// The N-record table is generated inside the database with SQL (fast); the ingest rate is
// measured through the store's public `ingest` with JS records in 5,000-record batches (what
// edges send).

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ClickHouseLogLevel, createClient } from "@clickhouse/client";
import { DuckDBInstance } from "@duckdb/node-api";
import type { List, Policy, QueryLogRecord } from "@gatehouse/contract";
import { ClickHouseStore } from "../../packages/control/src/analytics/clickhouse-store.ts";
import { DuckDbStore } from "../../packages/control/src/analytics/duckdb-store.ts";
import { simulate } from "../../packages/control/src/analytics/simulate.ts";
import type { AnalyticsStore } from "../../packages/control/src/analytics/types.ts";
import { startClickHouse } from "../../packages/control/test/support/clickhouse.ts";
import { makeRecords } from "./records.ts";

const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, "").split("=");
    return [k, v ?? "true"] as const;
  }),
);
const N = Number(args.get("records") ?? 10_000_000);
const SIM = Number(args.get("simulate") ?? 1_000_000);
const INGEST = Number(args.get("ingest") ?? 1_000_000);
const BATCH = 5000;
const DOMAINS = 50_000;
const CLIENTS = 1000;
/** Records are 60 ms apart, ending at END: 10M records span ~6.9 days. */
const END = Date.UTC(2026, 10, 22, 0, 0, 0);
const STEP = 60;
const START = END - N * STEP;

const results: { store: string; metric: string; value: string }[] = [];
function report(store: string, metric: string, value: string): void {
  results.push({ store, metric, value });
  console.log(`${store.padEnd(10)} ${metric.padEnd(52)} ${value}`);
}

/** CPU seconds (user + system, all threads of this process) since `since`. */
function cpuSeconds(since: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1e6;
}

function ms(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

function records(count: number, offset: number): QueryLogRecord[] {
  return makeRecords(count, offset, {
    start: START,
    step: STEP,
    domains: DOMAINS,
    clients: CLIENTS,
  });
}

/**
 * Ingest through `store` and report the acknowledged rate. `settle` (DuckDB: closing the store,
 * which checkpoints whatever the WAL still holds) is timed too and reported as a second rate,
 * so work a store defers past the last acknowledgement is not left out of the figure.
 */
async function measureIngest(
  name: string,
  store: AnalyticsStore,
  senders: number,
  settle?: () => Promise<void>,
): Promise<void> {
  const batches = Math.ceil(INGEST / BATCH);
  // Build the records first: the rate is the store's, not the generator's. At most 1,000,000
  // of them, sent again under new batch ids beyond that: holding more live JS objects than an
  // ingesting control ever does would time the garbage collector, not the store.
  const all: QueryLogRecord[][] = [];
  const pool = Math.min(batches, 200);
  for (let b = 0; b < pool; b++) all.push(records(BATCH, b * BATCH));
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  // `senders` edges deliver at once, each waiting for its acknowledgement before the next.
  let next = 0;
  const sender = async () => {
    for (let b = next++; b < batches; b = next++)
      await store.ingest(`bench-${b}`, all[b % pool] ?? []);
  };
  await Promise.all(Array.from({ length: senders }, sender));
  const sec = ms(t0) / 1000;
  const cpu = cpuSeconds(cpu0);
  const n = batches * BATCH;
  const what = `ingest ${n.toLocaleString("en")} records (5,000/batch, ${senders} sender${senders > 1 ? "s" : ""})`;
  const rate = (s: number, c: number) =>
    `${Math.round(n / s).toLocaleString("en")} records/s wall (this process used ${c.toFixed(2)} s CPU = ${Math.round(n / c).toLocaleString("en")} records per CPU-second)`;
  const groups = store instanceof DuckDbStore ? `; ${store.writes.groups} transactions` : "";
  report(name, what, `${rate(sec, cpu)}${groups}`);
  if (settle !== undefined) {
    await settle();
    report(name, `${what} + final checkpoint`, rate(ms(t0) / 1000, cpuSeconds(cpu0)));
  }
}

/**
 * Columns for the SQL generators, in the store's column order. Domains are skewed toward low
 * indexes (a cube of a uniform variable), as real query logs are; every 17th domain is blocked.
 */
function duckGenerateSql(n: number): string {
  return `INSERT INTO query_log SELECT
    '' AS account_id, ${START} + i * ${STEP} AS ts, 'g' || i AS id, 'edge-' || (i % 4) AS edge_id,
    CASE WHEN i % 10 = 0 THEN 'http' ELSE 'dns' END AS kind,
    CASE WHEN d % 17 = 0 THEN 'block' ELSE 'allow' END AS action,
    '10.0.' || (c // 256) || '.' || (c % 256) AS client,
    CASE WHEN i % 5 = 0 THEN 'doh' ELSE 'udp' END AS transport,
    (i % 50) / 2.0 AS duration_ms,
    'host' || d || '.example' || (d % 97) || '.com' AS domain,
    CASE WHEN i % 3 = 0 THEN 'branch' ELSE 'hq' END AS location,
    NULL AS identity,
    CASE WHEN d % 17 = 0 THEN 'pol-' || (d % 100) END AS policy_id,
    CASE WHEN d % 17 = 0 THEN 'Policy ' || (d % 100) END AS policy_name,
    CASE WHEN d % 17 = 0 THEN 'ads' END AS list,
    'host' || d || '.example' || (d % 97) || '.com' AS qname,
    CASE WHEN i % 4 = 0 THEN 'AAAA' ELSE 'A' END AS qtype,
    'NOERROR' AS rcode, 'miss' AS cache, 'udp://9.9.9.9:53' AS upstream,
    NULL AS method, NULL AS host, NULL AS url, NULL AS sni, NULL AS status,
    NULL AS bytes_up, NULL AS bytes_down, NULL AS upstream_addr, NULL AS reason
  FROM (SELECT range AS i, CAST(floor(pow(random(), 3) * ${DOMAINS}) AS BIGINT) AS d,
               CAST(floor(random() * ${CLIENTS}) AS BIGINT) AS c FROM range(${n}))`;
}

function clickhouseGenerateSql(n: number): string {
  return `INSERT INTO query_log SELECT
    '' AS account_id, toInt64(${START} + i * ${STEP}) AS ts, concat('g', toString(i)) AS id,
    concat('edge-', toString(i % 4)) AS edge_id,
    if(i % 10 = 0, 'http', 'dns') AS kind,
    if(d % 17 = 0, 'block', 'allow') AS action,
    concat('10.0.', toString(intDiv(c, 256)), '.', toString(c % 256)) AS client,
    if(i % 5 = 0, 'doh', 'udp') AS transport,
    (i % 50) / 2.0 AS duration_ms,
    toNullable(concat('host', toString(d), '.example', toString(d % 97), '.com')) AS domain,
    toNullable(if(i % 3 = 0, 'branch', 'hq')) AS location,
    CAST(NULL AS Nullable(String)) AS identity,
    if(d % 17 = 0, concat('pol-', toString(d % 100)), NULL) AS policy_id,
    if(d % 17 = 0, concat('Policy ', toString(d % 100)), NULL) AS policy_name,
    if(d % 17 = 0, 'ads', NULL) AS list,
    toNullable(concat('host', toString(d), '.example', toString(d % 97), '.com')) AS qname,
    toNullable(if(i % 4 = 0, 'AAAA', 'A')) AS qtype,
    toNullable('NOERROR') AS rcode, toNullable('miss') AS cache, toNullable('udp://9.9.9.9:53') AS upstream,
    CAST(NULL AS Nullable(String)) AS method, CAST(NULL AS Nullable(String)) AS host,
    CAST(NULL AS Nullable(String)) AS url, CAST(NULL AS Nullable(String)) AS sni,
    CAST(NULL AS Nullable(Int32)) AS status, CAST(NULL AS Nullable(Int64)) AS bytes_up,
    CAST(NULL AS Nullable(Int64)) AS bytes_down, CAST(NULL AS Nullable(String)) AS upstream_addr,
    CAST(NULL AS Nullable(String)) AS reason
  FROM (SELECT number AS i,
               toUInt64(floor(pow(rand(1) / 4294967296.0, 3) * ${DOMAINS})) AS d,
               rand(2) % ${CLIENTS} AS c
        FROM numbers(${n}))`;
}

/** 100 DNS policies in the shapes administrators write. */
function draft(): { policies: Policy[]; lists: List[] } {
  const lists: List[] = [];
  const policies: Policy[] = [];
  for (let k = 0; k < 100; k++) {
    let expression: string;
    switch (k % 5) {
      case 0: {
        // 1,000 names per list, about 2% of the logged names in all: most queries run
        // through every policy (the costly case) and a few change outcome.
        const items: string[] = [];
        for (let j = 0; j < 1000; j++) {
          const d = 1000 + k * 1000 + j;
          items.push(`host${d}.example${d % 97}.com`);
        }
        lists.push({ id: `l${k}`, name: `list-${k}`, type: "domain", items });
        expression = `any(dns.domains[*] in $list-${k})`;
        break;
      }
      case 1:
        expression = `dns.fqdn == "host${k * 37}.example${(k * 37) % 97}.com"`;
        break;
      case 2:
        expression = `dns.src_ip in {10.0.${k % 4}.0/26} and dns.query_rtype == "AAAA"`;
        break;
      case 3:
        expression = `dns.fqdn matches "^host${k}[0-9]*\\\\.example" and dns.location == "branch"`;
        break;
      default:
        expression = `any(dns.domains[*] == "example${k % 97}.com") and dns.transport == "dot"`;
    }
    policies.push({
      id: `draft-${k}`,
      name: `Draft ${k}`,
      type: "dns",
      enabled: true,
      precedence: k + 1,
      action: k % 10 === 9 ? "allow" : "block",
      expression,
    });
  }
  return { policies, lists };
}

async function measureQueries(name: string, store: AnalyticsStore): Promise<void> {
  const range = { from: START, to: END };
  // Warm once (file pages, caches), then time the best of 3.
  const best = async (fn: () => Promise<unknown>) => {
    await fn();
    let b = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 3; i++) {
      const t0 = process.hrtime.bigint();
      await fn();
      b = Math.min(b, ms(t0));
    }
    return b;
  };
  const top = await store.top({ ...range, dimension: "blocked_domain", limit: 10 });
  if (top.entries.length !== 10) throw new Error("top-10 returned fewer than 10 entries");
  report(
    name,
    `top-10 blocked domains over ${N.toLocaleString("en")} records`,
    `${(await best(() => store.top({ ...range, dimension: "blocked_domain", limit: 10 }))).toFixed(0)} ms`,
  );
  report(
    name,
    "search page (50 newest, no filter)",
    `${(await best(() => store.search({ ...range, limit: 50 }))).toFixed(1)} ms`,
  );
  const page1 = await store.search({ ...range, limit: 50, filter: { client: "10.0.1.7" } });
  report(
    name,
    "search page (50 newest, client filter)",
    `${(await best(() => store.search({ ...range, limit: 50, filter: { client: "10.0.1.7" } }))).toFixed(1)} ms`,
  );
  if (page1.nextCursor !== undefined) {
    const cursor = page1.nextCursor;
    report(
      name,
      "search page 2 (cursor, client filter)",
      `${(await best(() => store.search({ ...range, limit: 50, cursor, filter: { client: "10.0.1.7" } }))).toFixed(1)} ms`,
    );
  }
  report(
    name,
    "search page (domain suffix filter)",
    `${(await best(() => store.search({ ...range, limit: 50, filter: { domainSuffix: "example5.com" } }))).toFixed(1)} ms`,
  );
  report(
    name,
    "timeseries per hour by action (whole range)",
    `${(await best(() => store.timeseries({ ...range, bucket: "hour", by: "action" }))).toFixed(0)} ms`,
  );

  // Simulation over the newest SIM records (records are STEP ms apart).
  // Every 10th generated record is HTTP: widen the range so SIM DNS queries are replayed.
  const sim = { from: END - Math.ceil((SIM * 10) / 9) * STEP, to: END };
  const d = draft();
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const r = await simulate(store, { ...sim, ...d, kinds: ["dns"] });
  const took = ms(t0);
  const cpu = cpuSeconds(cpu0);
  report(
    name,
    `simulate ${r.replayed.toLocaleString("en")} DNS queries × 100 policies`,
    `${(took / 1000).toFixed(2)} s wall, ${cpu.toFixed(2)} s CPU (${r.combinations.toLocaleString("en")} distinct combinations; newly blocked ${r.newlyBlocked.count.toLocaleString("en")}, newly allowed ${r.newlyAllowed.count.toLocaleString("en")})`,
  );
}

async function duck(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "gatehouse-bench-"));
  try {
    for (const senders of [1, 4]) {
      const ingestStore = await DuckDbStore.open({ path: join(dir, `ingest-${senders}.duckdb`) });
      await measureIngest("duckdb", ingestStore, senders, () => ingestStore.close());
    }

    const file = join(dir, "analytics.duckdb");
    await (await DuckDbStore.open({ path: file })).close();
    const t0 = process.hrtime.bigint();
    const inst = await DuckDBInstance.create(file);
    const c = await inst.connect();
    await c.run(duckGenerateSql(N));
    await c.run("CHECKPOINT");
    c.closeSync();
    inst.closeSync();
    console.log(
      `(generated ${N.toLocaleString("en")} rows in DuckDB in ${(ms(t0) / 1000).toFixed(1)} s)`,
    );
    const store = await DuckDbStore.open({ path: file });
    await measureQueries("duckdb", store);
    await store.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function clickhouse(): Promise<void> {
  const server = await startClickHouse();
  if (server.skip !== undefined) {
    console.log(`clickhouse skipped: ${server.skip}`);
    return;
  }
  try {
    for (const senders of [1, 4]) {
      const ingestStore = await ClickHouseStore.open({
        url: server.url,
        database: `bench_ingest_${senders}`,
      });
      await measureIngest("clickhouse", ingestStore, senders);
      await ingestStore.dropDatabase();
      await ingestStore.close();
    }

    const store = await ClickHouseStore.open({ url: server.url, database: "bench" });
    const client = createClient({
      url: server.url,
      database: "bench",
      request_timeout: 600_000,
      log: { level: ClickHouseLogLevel.ERROR },
    });
    const t0 = process.hrtime.bigint();
    await client.command({ query: clickhouseGenerateSql(N) });
    await client.command({ query: "OPTIMIZE TABLE query_log FINAL" });
    await client.close();
    console.log(
      `(generated ${N.toLocaleString("en")} rows in ClickHouse in ${(ms(t0) / 1000).toFixed(1)} s)`,
    );
    await measureQueries("clickhouse", store);
    await store.dropDatabase();
    await store.close();
  } finally {
    await server.stop();
  }
}

console.log(
  `Node ${process.version}, ${N.toLocaleString("en")} records, simulate ${SIM.toLocaleString("en")}`,
);
const keep = args.get("keep-file");
if (keep !== undefined) {
  // Development aid: generate once into FILE (when missing), then time only the simulation.
  const { existsSync } = await import("node:fs");
  if (!existsSync(keep)) {
    await (await DuckDbStore.open({ path: keep })).close();
    const inst = await DuckDBInstance.create(keep);
    const c = await inst.connect();
    await c.run(duckGenerateSql(N));
    c.closeSync();
    inst.closeSync();
  }
  const store = await DuckDbStore.open({ path: keep });
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const r = await simulate(store, {
    from: END - Math.ceil((SIM * 10) / 9) * STEP,
    to: END,
    ...draft(),
    kinds: ["dns"],
  });
  console.log(
    `simulate ${r.replayed} in ${(ms(t0) / 1000).toFixed(2)} s wall, ${cpuSeconds(cpu0).toFixed(2)} s CPU; ${r.combinations} combinations, +${r.newlyBlocked.count} -${r.newlyAllowed.count}`,
  );
  await store.close();
  process.exit(0);
}
await duck();
if (args.get("no-clickhouse") !== "true") await clickhouse();
console.log("\n| store | measurement | result |\n|---|---|---|");
for (const r of results) console.log(`| ${r.store} | ${r.metric} | ${r.value} |`);
