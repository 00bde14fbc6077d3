// The analytics store conformance suite: the same cases against every AnalyticsStore
// implementation (one `describe` per store in analytics-store.test.ts). Data is a small fixed
// set so expected answers are computed by hand (or by a plain-JS reference over the same
// array), never read back from the store under test.

import assert from "node:assert/strict";
import { it } from "node:test";
import type { QueryLogRecord } from "@gatehouse/contract";
import { simulate } from "../src/analytics/simulate.ts";
import type { AnalyticsStore } from "../src/analytics/types.ts";
import { AnalyticsInputError } from "../src/analytics/types.ts";

export type StoreFactory = () => Promise<{ store: AnalyticsStore; dispose(): Promise<void> }>;

/** 2026-11-20T12:00:00Z */
export const T0 = Date.UTC(2026, 10, 20, 12);
const MIN = 60_000;

export function dns(i: number, over: Partial<QueryLogRecord> = {}): QueryLogRecord {
  return {
    ts: T0 + i * 1000,
    kind: "dns",
    id: `d${String(i).padStart(4, "0")}`,
    edgeId: "edge-1",
    client: `10.0.0.${i % 4}`,
    action: "allow",
    transport: "udp",
    durationMs: 2.5,
    qname: `host${i % 3}.example.com`,
    qtype: "A",
    rcode: "NOERROR",
    cache: "miss",
    upstream: "udp://9.9.9.9:53",
    location: "hq",
    ...over,
  };
}

/** A fixed mixed data set: 30 DNS over 3 minutes, some blocked, plus HTTP and net records. */
export function dataset(): QueryLogRecord[] {
  const out: QueryLogRecord[] = [];
  for (let i = 0; i < 30; i++) {
    const blocked = i % 5 === 0;
    out.push(
      dns(i * 6, {
        action: blocked ? "block" : "allow",
        policyId: blocked ? "pol-ads" : undefined,
        policyName: blocked ? "Block ads" : undefined,
        list: blocked ? "ads" : undefined,
        qname: blocked ? `ads${i % 2}.tracker.net.` : `host${i % 3}.Example.com`,
        rcode: blocked ? "NOERROR" : i % 7 === 0 ? "NXDOMAIN" : "NOERROR",
        location: i % 2 === 0 ? "hq" : "branch",
        transport: i % 3 === 0 ? "doh" : "udp",
      }),
    );
  }
  out.push({
    ts: T0 + 5000,
    kind: "http",
    id: "h1",
    edgeId: "edge-2",
    client: "10.0.1.7",
    identity: "ana@example.com",
    action: "block",
    policyId: "pol-http",
    policyName: "No uploads",
    transport: "http",
    durationMs: 12,
    method: "POST",
    host: "upload.example.com:8080",
    url: "http://upload.example.com:8080/put",
    status: 403,
    bytesUp: 100,
    bytesDown: 2000,
    upstreamAddr: "203.0.113.5:8080",
    location: "hq",
  });
  out.push({
    ts: T0 + 7000,
    kind: "net",
    id: "n1",
    client: "10.0.1.8",
    action: "allow",
    transport: "connect",
    durationMs: 300,
    host: "secure.example.org",
    sni: "secure.example.org",
    status: 200,
    bytesUp: 5000,
    bytesDown: 90000,
    upstreamAddr: "198.51.100.9:443",
    reason: "tunnel_closed",
  });
  return out;
}

const RANGE = { from: T0 - 3_600_000, to: T0 + 3_600_000 };

async function drain(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(Buffer.isBuffer(c) ? c : Buffer.from(c as string));
  return Buffer.concat(parts);
}

export function conformance(open: StoreFactory, opts: { parquet: boolean }): void {
  async function withStore(fn: (s: AnalyticsStore) => Promise<void>): Promise<void> {
    const { store, dispose } = await open();
    try {
      await fn(store);
    } finally {
      await dispose();
    }
  }
  async function seeded(fn: (s: AnalyticsStore, data: QueryLogRecord[]) => Promise<void>) {
    await withStore(async (s) => {
      const data = dataset();
      await s.ingest("seed-1", data.slice(0, 20));
      await s.ingest("seed-2", data.slice(20));
      await fn(s, data);
    });
  }

  it("ingest is idempotent by batch id", () =>
    withStore(async (s) => {
      const data = dataset();
      assert.deepEqual(await s.ingest("b-1", data), { accepted: data.length, duplicate: false });
      assert.deepEqual(await s.ingest("b-1", data), { accepted: 0, duplicate: true });
      assert.deepEqual(await s.ingest("b-2", []), { accepted: 0, duplicate: false });
      assert.deepEqual(await s.ingest("b-2", data), { accepted: 0, duplicate: true });
      assert.equal(await s.count(), data.length);
      await assert.rejects(s.ingest("bad id with spaces", data), AnalyticsInputError);
    }));

  it("accounts are isolated, batch ids are per account", () =>
    withStore(async (s) => {
      assert.equal((await s.ingest("b", [dns(1)], "acct-a")).accepted, 1);
      assert.equal((await s.ingest("b", [dns(2), dns(3)], "acct-b")).accepted, 2);
      const ids = async (accountId?: string) =>
        (await s.search({ ...RANGE, limit: 10, ...(accountId ? { accountId } : {}) })).records
          .map((r) => r.id)
          .sort();
      assert.deepEqual(await ids("acct-a"), ["d0001"]);
      assert.deepEqual(await ids("acct-b"), ["d0002", "d0003"]);
      assert.deepEqual(await ids("acct-c"), []);
      assert.deepEqual(await ids(), ["d0001", "d0002", "d0003"]);
      const top = await s.top({ ...RANGE, accountId: "acct-b", dimension: "client", limit: 5 });
      assert.equal(
        top.entries.reduce((n, e) => n + e.count, 0),
        2,
      );
    }));

  it("concurrent deliveries of one batch write it once", () =>
    withStore(async (s) => {
      const data = dataset();
      const results = await Promise.all([1, 2, 3].map(() => s.ingest("same", data)));
      assert.equal(results.filter((r) => !r.duplicate).length, 1);
      assert.equal(await s.count(), data.length);
    }));

  it("records round-trip through search unchanged", () =>
    seeded(async (s, data) => {
      const page = await s.search({ ...RANGE, limit: 1000 });
      const byId = new Map(page.records.map((r) => [r.id, r]));
      assert.equal(page.records.length, data.length);
      for (const r of data) assert.deepEqual(byId.get(r.id), JSON.parse(JSON.stringify(r)));
    }));

  it("timeseries counts per minute by action, from inclusive and to exclusive", () =>
    seeded(async (s) => {
      // DNS i*6 seconds for i < 30 → minute 0: i 0..9, minute 1: 10..19, minute 2: 20..29.
      const r = await s.timeseries({
        from: T0,
        to: T0 + 3 * MIN,
        bucket: "minute",
        by: "action",
        filter: { kind: "dns" },
      });
      assert.deepEqual(r.points, [
        { t: T0, key: "allow", count: 8 },
        { t: T0, key: "block", count: 2 },
        { t: T0 + MIN, key: "allow", count: 8 },
        { t: T0 + MIN, key: "block", count: 2 },
        { t: T0 + 2 * MIN, key: "allow", count: 8 },
        { t: T0 + 2 * MIN, key: "block", count: 2 },
      ]);
      const edge = await s.timeseries({
        from: T0 + 6000,
        to: T0 + 12000,
        bucket: "hour",
        by: "kind",
      });
      // ts T0+6000 (dns i=1) and T0+7000 (net) are in; T0+12000 is excluded.
      assert.deepEqual(edge.points, [
        { t: T0, key: "dns", count: 1 },
        { t: T0, key: "net", count: 1 },
      ]);
    }));

  it("timeseries by policy keeps records without a policy as a null key", () =>
    seeded(async (s) => {
      const r = await s.timeseries({ ...RANGE, bucket: "day", by: "policy" });
      const day = Date.UTC(2026, 10, 20);
      assert.deepEqual(
        [...r.points].sort((a, b) => String(a.key).localeCompare(String(b.key))),
        [
          { t: day, key: null, count: 25 },
          { t: day, key: "pol-ads", count: 6 },
          { t: day, key: "pol-http", count: 1 },
        ].sort((a, b) => String(a.key).localeCompare(String(b.key))),
      );
    }));

  it("top dimensions", () =>
    seeded(async (s) => {
      const top = async (
        dimension: Parameters<AnalyticsStore["top"]>[0]["dimension"],
        limit = 10,
      ) => (await s.top({ ...RANGE, dimension, limit })).entries;
      // Blocked: i ∈ {0,5,10,15,20,25} → ads0 for even i (0,10,20), ads1 for odd (5,15,25).
      assert.deepEqual(await top("blocked_domain"), [
        { key: "ads0.tracker.net", count: 3 },
        { key: "ads1.tracker.net", count: 3 },
        { key: "upload.example.com", count: 1 },
      ]);
      const domains = await top("domain", 2);
      assert.equal(domains.length, 2);
      // host0/1/2 have 8 allowed queries each: ties are ordered by key.
      assert.deepEqual(domains, [
        { key: "host0.example.com", count: 8 },
        { key: "host1.example.com", count: 8 },
      ]);
      assert.deepEqual(await top("policy"), [
        { key: "pol-ads", count: 6, label: "Block ads" },
        { key: "pol-http", count: 1, label: "No uploads" },
      ]);
      assert.deepEqual(await top("list"), [{ key: "ads", count: 6 }]);
      assert.deepEqual(await top("upstream"), [{ key: "udp://9.9.9.9:53", count: 30 }]);
      // DNS client is 10.0.0.(6i mod 4): .0 for even i, .2 for odd i, 15 each.
      assert.deepEqual(await top("client", 3), [
        { key: "10.0.0.0", count: 15 },
        { key: "10.0.0.2", count: 15 },
        { key: "10.0.1.7", count: 1 },
      ]);
      const filtered = await s.top({
        ...RANGE,
        dimension: "client",
        limit: 10,
        filter: { action: "block", location: "hq" },
      });
      // Blocked at hq: i ∈ {0,10,20} (even i) → clients (6i % 4): 0, 0, 0 → "10.0.0.0" ×3; plus h1.
      assert.deepEqual(filtered.entries, [
        { key: "10.0.0.0", count: 3 },
        { key: "10.0.1.7", count: 1 },
      ]);
      await assert.rejects(s.top({ ...RANGE, dimension: "domain", limit: 0 }), AnalyticsInputError);
    }));

  it("one client's activity: totals, blocked, first and last time, how it was identified", () =>
    seeded(async (s) => {
      // DNS client 10.0.0.0 is every even i (15 records, all at hq), blocked for i ∈ {0,10,20};
      // its first record is i = 0 (T0), its last i = 28 (T0 + 168 s).
      assert.deepEqual(await s.clientActivity({ ...RANGE, client: "10.0.0.0" }), {
        total: 15,
        blocked: 3,
        firstTs: T0,
        lastTs: T0 + 168_000,
        seenAs: [{ location: "hq", identity: null, device: null, count: 15 }],
      });
      // The HTTP record's client: signed in as ana, blocked.
      assert.deepEqual(await s.clientActivity({ ...RANGE, client: "10.0.1.7" }), {
        total: 1,
        blocked: 1,
        firstTs: T0 + 5000,
        lastTs: T0 + 5000,
        seenAs: [{ location: "hq", identity: "ana@example.com", device: null, count: 1 }],
      });
      // The range bounds it: from T0 + 1 leaves out i = 0 (one of the blocked).
      const later = await s.clientActivity({ ...RANGE, from: T0 + 1, client: "10.0.0.0" });
      assert.deepEqual([later.total, later.blocked, later.firstTs], [14, 2, T0 + 12_000]);
      const none = { total: 0, blocked: 0, firstTs: null, lastTs: null, seenAs: [] };
      assert.deepEqual(await s.clientActivity({ ...RANGE, client: "10.9.9.9" }), none);
      assert.deepEqual(
        await s.clientActivity({ ...RANGE, accountId: "another", client: "10.0.0.0" }),
        none,
      );
      await assert.rejects(s.clientActivity({ ...RANGE, client: "" }), AnalyticsInputError);
    }));

  it("filters and groups by edge; a record without one is a null key, left out of top edges", () =>
    seeded(async (s, data) => {
      const day = Date.UTC(2026, 10, 20);
      const byKey = (a: { key: string | null }, b: { key: string | null }) =>
        String(a.key).localeCompare(String(b.key));
      const series = await s.timeseries({ ...RANGE, bucket: "day", by: "edge" });
      assert.deepEqual(
        [...series.points].sort(byKey),
        [
          { t: day, key: "edge-1", count: data.filter((r) => r.edgeId === "edge-1").length },
          { t: day, key: "edge-2", count: 1 },
          { t: day, key: null, count: data.filter((r) => r.edgeId === undefined).length },
        ].sort(byKey),
      );
      assert.deepEqual((await s.top({ ...RANGE, dimension: "edge", limit: 10 })).entries, [
        { key: "edge-1", count: 30 },
        { key: "edge-2", count: 1 },
      ]);
      const ids = async (edgeId: string) =>
        (await s.search({ ...RANGE, limit: 1000, filter: { edgeId } })).records.map((r) => r.id);
      assert.deepEqual(await ids("edge-2"), ["h1"]);
      assert.equal((await ids("edge-1")).length, 30);
      assert.deepEqual(await ids("edge-3"), []);
      // The filter narrows every query: blocked domains on edge-1 only.
      const blocked = await s.top({
        ...RANGE,
        dimension: "blocked_domain",
        limit: 10,
        filter: { edgeId: "edge-1" },
      });
      assert.deepEqual(blocked.entries, [
        { key: "ads0.tracker.net", count: 3 },
        { key: "ads1.tracker.net", count: 3 },
      ]);
    }));

  it("the proxy's own lookups (transport internal) stay out of totals and top lists unless asked for", () =>
    withStore(async (s) => {
      const data = dataset();
      // A proxied request logs two lookups (A, AAAA) with the requesting client's address.
      const internal = (i: number, qtype: string) =>
        dns(i, {
          id: `i${i}${qtype}`,
          transport: "internal",
          qtype,
          client: "10.0.1.7",
          qname: "upload.example.com",
        });
      await s.ingest("seed", [...data, internal(5, "A"), internal(5, "AAAA")]);
      const day = Date.UTC(2026, 10, 20);
      const series = await s.timeseries({ ...RANGE, bucket: "day", by: "kind" });
      assert.deepEqual(
        series.points.map((p) => [p.key, p.count]),
        [
          ["dns", 30],
          ["http", 1],
          ["net", 1],
        ],
      );
      const top = async (dimension: "client" | "domain", filter?: { transport: string }) =>
        (await s.top({ ...RANGE, dimension, limit: 10, ...(filter ? { filter } : {}) })).entries;
      assert.deepEqual(
        (await top("client")).find((e) => e.key === "10.0.1.7"),
        { key: "10.0.1.7", count: 1 },
        "only the proxied request itself counts for its client",
      );
      assert.deepEqual(
        (await top("domain")).find((e) => e.key === "upload.example.com"),
        { key: "upload.example.com", count: 1 },
      );
      // Asked for by transport: there they are.
      assert.deepEqual(await top("client", { transport: "internal" }), [
        { key: "10.0.1.7", count: 2 },
      ]);
      const byTransport = await s.timeseries({
        ...RANGE,
        bucket: "day",
        by: "transport",
        filter: { transport: "internal" },
      });
      assert.deepEqual(byTransport.points, [{ t: day, key: "internal", count: 2 }]);
      // The records themselves are kept and searchable, labelled with their transport.
      const found = await s.search({ ...RANGE, limit: 1000 });
      assert.equal(found.records.length, data.length + 2);
      assert.deepEqual(
        found.records
          .filter((r) => r.transport === "internal")
          .map((r) => r.id)
          .sort(),
        ["i5A", "i5AAAA"],
      );
    }));

  it("search filters", () =>
    seeded(async (s, data) => {
      const ids = async (filter: Parameters<AnalyticsStore["search"]>[0]["filter"]) =>
        (await s.search({ ...RANGE, limit: 1000, filter })).records.map((r) => r.id).sort();
      const ref = (pred: (r: QueryLogRecord) => boolean) =>
        data
          .filter(pred)
          .map((r) => r.id)
          .sort();
      assert.deepEqual(
        await ids({ domainPrefix: "ADS" }),
        ref((r) => r.qname?.startsWith("ads") === true),
      );
      assert.deepEqual(
        await ids({ domainSuffix: "tracker.net" }),
        ref((r) => r.qname?.includes("tracker.net") === true),
      );
      // Label boundary: "example.com" must not match a name ending in "xample.com" only.
      assert.deepEqual(await ids({ domainSuffix: "ample.com" }), []);
      assert.deepEqual(
        await ids({ domainSuffix: "example.com" }),
        ref((r) => /example\.com/i.test(r.qname ?? r.host ?? "")),
      );
      assert.deepEqual(await ids({ client: "10.0.1.7" }), ["h1"]);
      assert.deepEqual(
        await ids({ location: "branch" }),
        ref((r) => r.location === "branch"),
      );
      assert.deepEqual(
        await ids({ action: "block", kind: "dns" }),
        ref((r) => r.action === "block" && r.kind === "dns"),
      );
      assert.deepEqual(await ids({ policyId: "pol-http" }), ["h1"]);
      assert.deepEqual(
        await ids({ rcode: "NXDOMAIN" }),
        ref((r) => r.rcode === "NXDOMAIN"),
      );
      assert.deepEqual(await ids({ status: 200 }), ["n1"]);
      assert.deepEqual(
        await ids({ transport: "doh" }),
        ref((r) => r.transport === "doh"),
      );
      assert.deepEqual(await ids({ kind: "net" }), ["n1"]);
      // Values are bound, never spliced into SQL.
      assert.deepEqual(await ids({ client: "' OR 1=1 --" }), []);
      assert.deepEqual(await ids({ domainSuffix: "x') OR ('a'='a" }), []);
      assert.equal(await s.count(), data.length);
    }));

  it("TLS inspection fields (inspected, TLS version, ALPN, origin certificate) round-trip and filter", () =>
    withStore(async (s) => {
      const base = dataset();
      const inspected: QueryLogRecord[] = [
        {
          ts: T0 + 9000,
          kind: "http",
          id: "i1",
          client: "10.0.1.9",
          action: "allow",
          transport: "http",
          durationMs: 8,
          method: "GET",
          host: "shop.example.com",
          url: "https://shop.example.com/cart",
          status: 200,
          inspected: true,
          tlsVersion: "TLSv1.3",
          alpn: "h2",
          originCert: "valid",
        },
        {
          ts: T0 + 9500,
          kind: "http",
          id: "i2",
          client: "10.0.1.9",
          action: "error",
          transport: "http",
          durationMs: 3,
          host: "old.example.com",
          url: "https://old.example.com/",
          status: 502,
          inspected: true,
          tlsVersion: "TLSv1.2",
          alpn: "http/1.1",
          originCert: "CERT_HAS_EXPIRED",
          reason: "origin_cert_invalid",
        },
        {
          ts: T0 + 9700,
          kind: "net",
          id: "i3",
          client: "10.0.1.9",
          action: "allow",
          transport: "connect",
          durationMs: 40,
          host: "appliance.example.com",
          originCert: "DEPTH_ZERO_SELF_SIGNED_CERT",
          reason: "origin_cert_passed_through",
        },
      ];
      const data = [...base, ...inspected];
      await s.ingest("tls-1", data);
      const page = await s.search({ ...RANGE, limit: 1000 });
      const byId = new Map(page.records.map((r) => [r.id, r]));
      for (const r of inspected) assert.deepEqual(byId.get(r.id), r);
      const ids = async (filter: Parameters<AnalyticsStore["search"]>[0]["filter"]) =>
        (await s.search({ ...RANGE, limit: 1000, filter })).records.map((r) => r.id).sort();
      assert.deepEqual(await ids({ inspected: true }), ["i1", "i2"]);
      assert.equal((await ids({ inspected: false })).length, data.length - 2);
      assert.deepEqual(await ids({ tlsVersion: "TLSv1.3" }), ["i1"]);
      assert.deepEqual(await ids({ alpn: "http/1.1" }), ["i2"]);
      assert.deepEqual(await ids({ originCert: "CERT_HAS_EXPIRED" }), ["i2"]);
      assert.deepEqual(await ids({ originCert: "DEPTH_ZERO_SELF_SIGNED_CERT", kind: "net" }), [
        "i3",
      ]);
      assert.deepEqual(await ids({ originCert: "' OR 1=1 --" }), []);
    }));

  it("search pages newest first with a keyset cursor, ties included", () =>
    withStore(async (s) => {
      // 25 records, five sharing each timestamp, from two edges reusing ids.
      const recs: QueryLogRecord[] = [];
      for (let i = 0; i < 25; i++) {
        recs.push(
          dns(0, {
            ts: T0 + Math.floor(i / 5) * 1000,
            id: `x${i % 3}`,
            edgeId: `e${i % 5}`,
          }),
        );
      }
      await s.ingest("ties", recs);
      const seen: QueryLogRecord[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await s.search({ ...RANGE, limit: 7, cursor });
        seen.push(...page.records);
        cursor = page.nextCursor;
        pages++;
      } while (cursor !== undefined && pages < 10);
      assert.equal(pages, 4);
      assert.equal(seen.length, 25);
      const keys = seen.map((r) => `${r.ts}|${r.id}|${r.edgeId}`);
      assert.equal(new Set(keys).size, 25);
      const sorted = [...seen].sort(
        (a, b) =>
          b.ts - a.ts ||
          (a.id < b.id ? 1 : a.id > b.id ? -1 : 0) ||
          ((a.edgeId ?? "") < (b.edgeId ?? "") ? 1 : -1),
      );
      assert.deepEqual(seen, sorted);
      await assert.rejects(
        s.search({ ...RANGE, limit: 5, cursor: "not-a-cursor" }),
        AnalyticsInputError,
      );
      await assert.rejects(s.search({ from: 10, to: 5, limit: 5 }), AnalyticsInputError);
    }));

  it("pages across days and sparse ranges exactly", () =>
    withStore(async (s) => {
      const day = 86_400_000;
      // 9 records: three per day at 00:00, 06:00 and 23:59 over three days, plus noise later.
      const recs: QueryLogRecord[] = [];
      for (let d = 0; d < 3; d++) {
        for (const off of [0, 6 * 3_600_000, day - 60_000]) {
          recs.push(dns(0, { ts: T0 - (3 - d) * day + off, id: `s${d}-${off}` }));
        }
      }
      await s.ingest("sparse", recs);
      const seen: string[] = [];
      let cursor: string | undefined;
      for (let i = 0; i < 10; i++) {
        const page = await s.search({ from: T0 - 10 * day, to: T0, limit: 2, cursor });
        seen.push(...page.records.map((r) => r.id));
        cursor = page.nextCursor;
        if (cursor === undefined) break;
      }
      const expected = [...recs].sort((a, b) => b.ts - a.ts).map((r) => r.id);
      assert.deepEqual(seen, expected);
    }));

  it("exports NDJSON and CSV streams", () =>
    seeded(async (s, data) => {
      const nd = await s.export({ ...RANGE, format: "ndjson" });
      assert.equal(nd.contentType, "application/x-ndjson");
      const lines = (await drain(nd.stream)).toString("utf8").trimEnd().split("\n");
      assert.equal(lines.length, data.length);
      const parsed = lines.map((l) => JSON.parse(l) as QueryLogRecord);
      assert.deepEqual(
        parsed.map((r) => r.ts),
        [...data.map((r) => r.ts)].sort((a, b) => a - b),
      );
      assert.deepEqual(
        parsed.find((r) => r.id === "h1"),
        data.find((r) => r.id === "h1"),
      );
      assert.deepEqual(
        parsed.find((r) => r.id === "n1"),
        data.find((r) => r.id === "n1"),
      );
      const csv = await s.export({ ...RANGE, format: "csv", filter: { kind: "http" } });
      const text = (await drain(csv.stream)).toString("utf8");
      const rows = text.split("\r\n");
      assert.ok(rows[0]?.startsWith("account_id,ts,id,edge_id,kind,action,client"));
      assert.equal(rows.length, 3); // header, one record, trailing empty string
      assert.ok(rows[1]?.includes(",POST,upload.example.com:8080,"));
      assert.ok(rows[1]?.includes(",upload.example.com,"));
    }));

  it("CSV quotes fields with commas, quotes and newlines", () =>
    withStore(async (s) => {
      await s.ingest("q", [dns(1, { location: 'a,"b"\nc' })]);
      const csv = await s.export({ ...RANGE, format: "csv" });
      const text = (await drain(csv.stream)).toString("utf8");
      assert.ok(text.includes(',"a,""b""\nc",'));
    }));

  if (opts.parquet) {
    it("exports Parquet and removes the temp file", () =>
      seeded(async (s, data) => {
        const ex = await s.export({ ...RANGE, format: "parquet" });
        const buf = await drain(ex.stream);
        assert.equal(buf.subarray(0, 4).toString("latin1"), "PAR1");
        assert.equal(buf.subarray(buf.length - 4).toString("latin1"), "PAR1");
        assert.ok(buf.length > 100 + data.length);
        const path = (ex.stream as unknown as { path?: string }).path;
        assert.ok(typeof path === "string");
        await new Promise((r) => setTimeout(r, 50));
        const { existsSync } = await import("node:fs");
        assert.equal(existsSync(path), false);
      }));
  } else {
    it("refuses Parquet with a clear error", () =>
      withStore(async (s) => {
        await assert.rejects(s.export({ ...RANGE, format: "parquet" }), AnalyticsInputError);
      }));
  }

  it("retention by age removes old days and keeps recent ones", () =>
    withStore(async (s) => {
      const day = 86_400_000;
      await s.ingest("old", [dns(1, { ts: T0 - 40 * day }), dns(2, { ts: T0 - 35 * day })]);
      await s.ingest("new", [dns(3, { ts: T0 - 2 * day }), dns(4, { ts: T0 })]);
      const r = await s.applyRetention({ maxAgeMs: 30 * day }, T0);
      assert.equal(r.removedRows, 2);
      assert.equal(await s.count(), 2);
      const left = await s.search({ from: T0 - 50 * day, to: T0 + day, limit: 10 });
      assert.deepEqual(left.records.map((x) => x.id).sort(), ["d0003", "d0004"]);
    }));

  it("retention by size drops the oldest records first", () =>
    withStore(async (s) => {
      const day = 86_400_000;
      for (let d = 0; d < 3; d++) {
        const recs: QueryLogRecord[] = [];
        for (let i = 0; i < 10; i++)
          recs.push(dns(i, { ts: T0 - (2 - d) * day + i, id: `r${d}-${i}` }));
        await s.ingest(`day-${d}`, recs);
      }
      const r = await s.applyRetention({ maxAgeMs: 30 * day, maxRows: 20 }, T0);
      assert.equal(r.removedRows, 10);
      assert.equal(await s.count(), 20);
      const oldest = await s.search({ from: T0 - 3 * day, to: T0 - day, limit: 100 });
      assert.ok(oldest.records.every((x) => x.id.startsWith("r1-")));
    }));

  it("replay groups identical field combinations with counts", () =>
    seeded(async (s, data) => {
      const groups = new Map<string, number>();
      let total = 0;
      for await (const chunk of s.replay({
        ...RANGE,
        kinds: ["dns"],
        columns: ["domain", "action"],
        byMinute: false,
        chunkRows: 2,
      })) {
        assert.ok(chunk.length >= 1);
        for (const row of chunk) {
          groups.set(row.values.join("|"), row.count);
          total += row.count;
        }
      }
      assert.equal(total, data.filter((r) => r.kind === "dns").length);
      assert.equal(groups.get("ads0.tracker.net|block"), 3);
      assert.equal(groups.get("host0.example.com|allow"), 8);
    }));

  it("policy simulation replays through the store", () =>
    seeded(async (s) => {
      const r = await simulate(s, {
        ...RANGE,
        policies: [
          {
            id: "host0",
            name: "host0",
            type: "dns",
            enabled: true,
            precedence: 1,
            action: "block",
            expression: 'dns.fqdn == "host0.example.com" or any(dns.domains[*] in $t)',
          },
        ],
        lists: [{ id: "t", name: "t", type: "domain", items: ["tracker.net"] }],
      });
      assert.equal(r.newlyBlocked.count, 8);
      assert.equal(r.newlyAllowed.count, 0);
      assert.equal(r.unchanged, 22);
    }));
}
