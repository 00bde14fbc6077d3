// Config sync against a fake control that speaks the edge API (enrol, long-poll, heartbeat,
// config-status): the edge enrols once, applies and persists good bundles, reports bad ones
// and keeps serving what it has.
import assert from "node:assert/strict";
import { access, mkdtemp, readFile, stat, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { gzipSync } from "node:zlib";
import {
  BUNDLE_SCHEMA_VERSION,
  bundleHash,
  type ConfigBundle,
  canonicalJson,
} from "@gatehouse/contract";
import {
  backoffDelay,
  type Edge,
  EdgeState,
  edgeRegistry,
  heartbeatCounters,
  SyncClient,
  startEdge,
} from "@gatehouse/edge";
import { Registry } from "prom-client";

interface FakeControl {
  url: string;
  bundle: ConfigBundle | undefined;
  heartbeats: { configVersion: number; counters: Record<string, number> }[];
  statuses: { version: number; ok: boolean; error?: { message: string; problems?: unknown[] } }[];
  enrolments: number;
  /** What the heartbeat answer says: control's admin status of the edge. */
  status: "active" | "draining";
  /** Refuse every credentialed request with these answers, in turn (empty: serve normally). */
  refuse: { status: number; code?: string; retryAfter?: number }[];
  /** Credentialed requests seen, by path. */
  requests: string[];
  /** Send bundles without a Content-Length (chunked, in two writes). */
  chunked: boolean;
  /**
   * Send bundles as control does (canonical JSON, the hash among the members) instead of
   * JSON.stringify with the hash last (a control from before canonical bodies).
   */
  canonical: boolean;
  /** gzip bundles when the poll accepts it (as control does). */
  gzip: boolean;
  /** Control's status of the edge changes: waiting config polls answer at once, 304 with it. */
  wakeWithStatus(status: "draining" | "active"): void;
  /** The X-Gatehouse-Edge-Version of every credentialed request. */
  versionHeaders: string[];
  publish(b: ConfigBundle, opts?: { corruptHash?: boolean }): Promise<void>;
  close(): Promise<void>;
}

const CREDENTIAL = "ghe_fake_credential";

async function body(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
}

async function fakeControl(): Promise<FakeControl> {
  const waiters = new Set<() => void>();
  let pollStatus: string | undefined;
  const state: FakeControl = {
    url: "",
    bundle: undefined,
    heartbeats: [],
    statuses: [],
    enrolments: 0,
    status: "active",
    refuse: [],
    requests: [],
    chunked: false,
    canonical: false,
    gzip: false,
    versionHeaders: [],
    wakeWithStatus(status) {
      pollStatus = status;
      for (const w of waiters) w();
    },
    async publish(b, opts) {
      b.hash = await bundleHash(b);
      if (opts?.corruptHash) b.hash = "0".repeat(64);
      state.bundle = b;
      for (const w of waiters) w();
    },
    close: async () => {},
  };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://x");
    const json = (status: number, v?: unknown) => {
      res.writeHead(status, v === undefined ? {} : { "content-type": "application/json" });
      res.end(v === undefined ? undefined : JSON.stringify(v));
    };
    if (url.pathname === "/api/v1/edge/enroll") {
      const b = (await body(req)) as { joinToken?: string };
      if (b.joinToken !== "join_good")
        return json(401, { error: { code: "GH_ERR_UNAUTHENTICATED", message: "bad join token" } });
      state.enrolments++;
      return json(201, { edgeId: "edge1", accountId: "acct1", credential: CREDENTIAL });
    }
    if (req.headers.authorization !== `Bearer ${CREDENTIAL}`)
      return json(401, { error: { code: "GH_ERR_UNAUTHENTICATED", message: "no" } });
    state.requests.push(url.pathname);
    state.versionHeaders.push(String(req.headers["x-gatehouse-edge-version"]));
    if (state.refuse.length > 0) {
      // In turn per path, so interleaved heartbeats do not decide what the polls get.
      const nth = state.requests.filter((p) => p === url.pathname).length;
      const r = state.refuse[nth % state.refuse.length]!;
      if (r.retryAfter !== undefined) res.setHeader("retry-after", String(r.retryAfter));
      return json(r.status, {
        error: { code: r.code ?? "GH_ERR_UNAVAILABLE", message: `refused with ${r.status}` },
      });
    }
    if (url.pathname === "/api/v1/edge/config") {
      const afterV = Number(url.searchParams.get("after") ?? 0);
      const ready = () => state.bundle !== undefined && state.bundle.version > afterV;
      // A poll whose client went away (a stopped client's aborted poll) stops waiting and takes
      // nothing: a wake it took would be written to a closed socket and lost.
      let gone = false;
      // As control does: a status the edge does not follow yet (its poll says what it follows) is
      // answered at once and on every poll until a poll follows it — never spent on one answer
      // that may go to a poll whose client is gone.
      if (pollStatus !== undefined && req.headers["x-gatehouse-edge-following"] === pollStatus)
        pollStatus = undefined;
      if (!ready() && pollStatus === undefined) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(done, 300);
          function done() {
            clearTimeout(t);
            waiters.delete(done);
            res.off("close", closed);
            resolve();
          }
          function closed() {
            gone = true;
            done();
          }
          res.on("close", closed);
          waiters.add(done);
        });
      }
      if (gone) return;
      if (!ready()) {
        if (pollStatus !== undefined) res.setHeader("x-gatehouse-edge-status", pollStatus);
        return json(304);
      }
      const text = state.canonical ? canonicalJson(state.bundle) : JSON.stringify(state.bundle);
      if (state.gzip && /\bgzip\b/.test(String(req.headers["accept-encoding"]))) {
        const gz = gzipSync(text);
        res.writeHead(200, { "content-type": "application/json", "content-encoding": "gzip" });
        return res.end(gz);
      }
      if (!state.chunked) {
        res.writeHead(200, { "content-type": "application/json" });
        return res.end(text);
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.write(text.slice(0, text.length >> 1));
      return res.end(text.slice(text.length >> 1));
    }
    if (url.pathname === "/api/v1/edge/heartbeat") {
      state.heartbeats.push((await body(req)) as FakeControl["heartbeats"][number]);
      return json(200, { status: state.status });
    }
    if (url.pathname === "/api/v1/edge/config-status") {
      state.statuses.push((await body(req)) as FakeControl["statuses"][number]);
      return json(204);
    }
    json(404, {});
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => json500(res));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () => {
    server.closeAllConnections();
    return new Promise((r) => server.close(() => r()));
  };
  return state;
}

function json500(res: ServerResponse) {
  res.writeHead(500);
  res.end();
}

function bundle(version: number, expression = 'dns.fqdn == "blocked.example"'): ConfigBundle {
  return {
    schemaVersion: BUNDLE_SCHEMA_VERSION,
    version,
    resolver: { upstreams: [] },
    locations: [{ id: "lo", name: "loopback", networks: ["127.0.0.0/8"] }],
    lists: [],
    policies: [
      {
        id: "p1",
        name: "p1",
        type: "dns",
        enabled: true,
        precedence: 1,
        expression,
        action: "block",
      },
    ],
  };
}

/** bundle(version) with a domain list of `names` names (n0.example …). */
function bundleWithList(version: number, names: number): ConfigBundle {
  const b = bundle(version, "any(dns.domains[*] in $big)");
  b.lists = [
    {
      id: "big",
      name: "big",
      type: "domain",
      items: Array.from({ length: names }, (_, i) => `n${i}.example`),
    },
  ];
  return b;
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function untilAsync(cond: () => Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("edge config sync", () => {
  let control: FakeControl;
  let edge: Edge;
  let dataDir: string;
  let client: SyncClient;
  const statusSeen: string[] = [];

  before(async () => {
    control = await fakeControl();
    dataDir = await mkdtemp(join(tmpdir(), "gh-sync-"));
    edge = await startEdge({
      config: { resolver: { upstreams: [] }, locations: [], lists: [], policies: [], edge: {} },
      log: () => {},
    });
  });
  after(async () => {
    await client?.stop();
    await edge.close();
    await control.close();
  });

  test("without a credential or join token, start fails with a clear message", async () => {
    const c = new SyncClient({
      controlUrl: control.url,
      dataDir,
      target: edge,
      softwareVersion: "test",
      registry: edgeRegistry(),
      log: () => {},
    });
    await assert.rejects(c.start(), /pass --join-token/);
  });

  test("a corrupt credential file is a clear error, not a crash", async () => {
    const dir = await mkdtemp(join(tmpdir(), "gh-sync-bad-"));
    await writeFile(join(dir, "credential.json"), "{not json");
    const c = new SyncClient({
      controlUrl: control.url,
      dataDir: dir,
      target: edge,
      softwareVersion: "test",
      registry: edgeRegistry(),
      log: () => {},
    });
    await assert.rejects(
      c.start(),
      /credential\.json is not valid JSON: remove it and enrol again/,
    );
  });

  test("a refused join token is an error, not a retry loop", async () => {
    const c = new SyncClient({
      controlUrl: control.url,
      dataDir,
      target: edge,
      joinToken: "join_bad",
      softwareVersion: "test",
      registry: edgeRegistry(),
      log: () => {},
    });
    await assert.rejects(c.start(), /enrolment refused: bad join token/);
  });

  test("enrols once, applies a published bundle, persists it and acknowledges it", async () => {
    client = new SyncClient({
      controlUrl: control.url,
      dataDir,
      target: edge,
      joinToken: "join_good",
      softwareVersion: "test",
      registry: edgeRegistry(),
      counters: () => heartbeatCounters(edgeRegistry()),
      heartbeatIntervalMs: 50,
      log: () => {},
      onDrain: () => statusSeen.push("draining"),
      onActive: () => statusSeen.push("active"),
    });
    await client.start();
    assert.equal(client.edgeId, "edge1");
    const credStat = await stat(join(dataDir, "credential.json"));
    assert.equal(credStat.mode & 0o077, 0, "credential file is private");
    await control.publish(bundle(3));
    await until(() => edge.snapshot.version === 3, "v3 applied");
    await until(() => control.statuses.some((s) => s.version === 3 && s.ok), "v3 acknowledged");
    const saved = await new EdgeState(dataDir).loadLastGood();
    assert.equal(saved?.version, 3);
    assert.equal(
      JSON.parse(await readFile(join(dataDir, "last-good-bundle.json"), "utf8")).hash,
      control.bundle?.hash,
    );
  });

  test("each heartbeat answer's status reaches onDrain / onActive", async () => {
    await until(() => statusSeen.includes("active"), "an active answer");
    control.status = "draining";
    statusSeen.length = 0;
    await until(() => statusSeen.length >= 2, "two answers");
    assert.ok(statusSeen.slice(1).every((s) => s === "draining"));
    control.status = "active";
    await until(() => statusSeen.at(-1) === "active", "active again");
  });

  test("heartbeats carry the applied version and integer counters", async () => {
    await until(() => control.heartbeats.some((h) => h.configVersion === 3), "a heartbeat with v3");
    const hb = control.heartbeats.at(-1)!;
    assert.equal(typeof hb.counters["dns.queries"], "number");
    for (const [k, v] of Object.entries(hb.counters)) {
      assert.match(k, /^[a-z0-9_.]{1,64}$/);
      assert.ok(Number.isInteger(v) && v >= 0, `${k}=${v}`);
    }
  });

  test("a bundle that does not compile is reported and the running one stays", async () => {
    await control.publish(bundle(4, "dns.fqdn == "));
    await until(() => control.statuses.some((s) => s.version === 4), "v4 status");
    const st = control.statuses.find((s) => s.version === 4)!;
    assert.equal(st.ok, false);
    assert.ok((st.error?.problems?.length ?? 0) > 0, "problems are reported");
    assert.equal(edge.snapshot.version, 3);
    assert.equal((await new EdgeState(dataDir).loadLastGood())?.version, 3);
  });

  test("a bundle whose hash does not match is refused", async () => {
    await control.publish(bundle(5), { corruptHash: true });
    await until(() => control.statuses.some((s) => s.version === 5), "v5 status");
    assert.equal(control.statuses.find((s) => s.version === 5)?.ok, false);
    assert.equal(edge.snapshot.version, 3);
  });

  test("a newer good bundle after a rejected one is applied", async () => {
    await control.publish(bundle(6));
    await until(() => edge.snapshot.version === 6, "v6 applied");
  });

  test("a canonical body (as control sends it) streams to disk and becomes the last good file as it came", async () => {
    const state = new EdgeState(dataDir);
    control.canonical = true;
    try {
      for (const [version, chunked, gzip] of [
        [59, false, true],
        [60, false, false],
        [61, true, false],
      ] as const) {
        control.chunked = chunked;
        control.gzip = gzip;
        const b = bundleWithList(version, 3000);
        await control.publish(b);
        await until(() => edge.snapshot.version === b.version, `v${b.version} applied`);
        await until(
          () => control.statuses.some((s) => s.version === b.version && s.ok),
          "acknowledged",
        );
        assert.ok(edge.snapshot.lists.domains("big")?.has("n2999.example"));
        await untilAsync(
          async () => (await readFile(state.lastGoodPath, "utf8")) === canonicalJson(b),
          "the body itself kept as the last good bundle",
        );
        await assert.rejects(access(state.incomingPath), /ENOENT/, "no incoming file left");
      }
      // A damaged digest: refused, reported, the last good file and the running config stay.
      const goodFile = await readFile(state.lastGoodPath, "utf8");
      await control.publish(bundleWithList(62, 3000), { corruptHash: true });
      await until(() => control.statuses.some((s) => s.version === 62), "v62 status");
      assert.equal(control.statuses.find((s) => s.version === 62)?.ok, false);
      assert.equal(edge.snapshot.version, 61);
      assert.equal(await readFile(state.lastGoodPath, "utf8"), goodFile);
      await assert.rejects(access(state.incomingPath), /ENOENT/, "the refused body removed");
      assert.equal((await state.loadLastGood())?.version, 61);
    } finally {
      control.canonical = false;
      control.chunked = false;
      control.gzip = false;
    }
    // Back to the small bundles the next tests count on.
    await control.publish(bundle(63));
    await until(() => edge.snapshot.version === 63, "v63 applied");
  });

  test("a restarted client reuses its credential: no second enrolment", async () => {
    await client.stop();
    client = new SyncClient({
      controlUrl: control.url,
      dataDir,
      target: edge,
      softwareVersion: "test",
      registry: edgeRegistry(),
      log: () => {},
    });
    await client.start();
    assert.equal(control.enrolments, 1);
    await control.publish(bundle(64));
    await until(() => edge.snapshot.version === 64, "v64 applied");
  });

  test("while control is down the edge keeps its config and says so", async () => {
    const lines: string[] = [];
    await client.stop();
    await control.close();
    client = new SyncClient({
      controlUrl: control.url,
      dataDir,
      target: edge,
      softwareVersion: "test",
      registry: edgeRegistry(),
      log: (l) => lines.push(l),
    });
    await client.start();
    await until(
      () => lines.some((l) => l.includes("control unreachable")),
      "an unreachable log line",
    );
    assert.match(lines.find((l) => l.includes("control unreachable"))!, /serving config v64/);
    assert.equal(edge.snapshot.version, 64);
    assert.ok(client.staleMs >= 0);
  });
});

describe("edge config sync when control refuses", () => {
  let control: FakeControl;
  let edge: Edge;
  const clients: SyncClient[] = [];

  before(async () => {
    control = await fakeControl();
    edge = await startEdge({
      config: { resolver: { upstreams: [] }, locations: [], lists: [], policies: [], edge: {} },
      log: () => {},
    });
  });
  after(async () => {
    for (const c of clients) await c.stop();
    await edge.close();
    await control.close();
  });

  /** A client with a credential already in its data directory, on its own registry. */
  const enrolled = async (extra: Partial<ConstructorParameters<typeof SyncClient>[0]> = {}) => {
    const dataDir = await mkdtemp(join(tmpdir(), "gh-sync-refused-"));
    await new EdgeState(dataDir).saveCredential({
      controlUrl: control.url,
      edgeId: "edge1",
      accountId: "acct1",
      credential: CREDENTIAL,
    });
    const registry = new Registry();
    const lines: string[] = [];
    const client = new SyncClient({
      controlUrl: control.url,
      dataDir,
      target: edge,
      softwareVersion: "test",
      registry,
      heartbeatIntervalMs: 20,
      backoff: { minMs: 10, maxMs: 80 },
      log: (l) => lines.push(l),
      ...extra,
    });
    clients.push(client);
    const gauge = async (name: string) =>
      (await registry.getSingleMetric(name)!.get()).values[0]?.value ?? 0;
    const failures = async (reason: string) =>
      (await registry.getSingleMetric("gatehouse_edge_sync_failures_total")!.get()).values.find(
        (v) => v.labels["reason"] === reason,
      )?.value ?? 0;
    return { client, dataDir, registry, lines, gauge, failures };
  };

  test("the backoff delay grows exponentially with jitter up to its cap", () => {
    for (const r of [0, 0.5, 1]) {
      const d = [1, 2, 3, 4, 5, 10, 60].map((n) => backoffDelay(n, 500, 30_000, r));
      assert.deepEqual(
        d.map((x) => x / (1 + r)),
        [250, 500, 1000, 2000, 4000, 15_000, 15_000],
      );
    }
  });

  test("401, 429 and 5xx grow the backoff and never refresh the last-sync time; a success resets both", async () => {
    control.refuse = [];
    const { client, gauge, failures, lines } = await enrolled();
    await client.start();
    await until(() => client.consecutiveFailures === 0 && control.requests.length > 0, "a poll");
    const lastSync = "gatehouse_edge_config_last_sync_timestamp_seconds";
    // The first poll is a 304 after the fake's 300 ms wait: a successful sync.
    await untilAsync(async () => (await gauge(lastSync)) > 0, "a first successful sync");
    control.refuse = [{ status: 401 }, { status: 429 }, { status: 500 }, { status: 503 }];
    // A long-poll in flight may still end in a 304 (a sync); from the first failure on, none.
    await until(() => client.consecutiveFailures >= 1, "a first failure", 10_000);
    const before = await gauge(lastSync);
    assert.ok(before > Date.now() / 1000 - 60);
    await until(() => client.consecutiveFailures >= 8, "eight failures in a row", 10_000);
    assert.equal(await gauge(lastSync), before, "refusals are not syncs");
    assert.ok(
      (await gauge("gatehouse_edge_sync_backoff_seconds")) >= 0.04,
      "at the cap (80 ms ± jitter)",
    );
    assert.ok((await failures("unauthorized")) >= 1);
    assert.ok((await failures("rate_limited")) >= 1);
    assert.ok((await failures("server_error")) >= 2);
    assert.ok(
      lines.some((l) =>
        /control refused the config sync \(control answered (401|429|500|503) /.test(l),
      ),
    );
    assert.ok(client.staleMs >= 0);
    control.refuse = [];
    await until(() => client.consecutiveFailures === 0, "a successful sync again", 10_000);
    assert.ok((await gauge(lastSync)) > before, "a success refreshes it");
    assert.equal(await gauge("gatehouse_edge_sync_backoff_seconds"), 0);
    await client.stop();
  });

  test("an answer over maxBundleBytes is not read: logged, counted, the config keeps serving", async () => {
    const { client, lines, failures, dataDir } = await enrolled({ maxBundleBytes: 64 * 1024 });
    await client.start();
    await control.publish(bundleWithList(11, 100));
    await until(() => edge.snapshot.version === 11, "v11 (small) applied");
    // 5,000 names make about 80 KB: over the limit, by its Content-Length, then without one.
    for (const [version, chunked] of [
      [12, false],
      [13, true],
    ] as const) {
      control.chunked = chunked;
      const seen = await failures("too_large");
      await control.publish(bundleWithList(version, 5000));
      await untilAsync(async () => (await failures("too_large")) > seen, `v${version} refused`);
      assert.equal(edge.snapshot.version, 11, "the running config stays");
      await assert.rejects(
        access(new EdgeState(dataDir).incomingPath),
        /ENOENT/,
        "no partial body left on disk",
      );
      assert.ok(
        lines.some((l) =>
          /ERROR: the config poll's answer is .* bytes, more than this edge accepts \(edge\.limits\.maxBundleBytes = 65536\); not read; keeping config v11/.test(
            l,
          ),
        ),
        lines.join("\n"),
      );
    }
    control.chunked = false;
    // A bundle within the limit is taken again.
    await control.publish(bundleWithList(14, 100));
    await until(() => edge.snapshot.version === 14, "v14 applied", 10_000);
    await client.stop();
  });

  test("an answer whose parse outgrows the parser thread's heap is refused, counted, logged", async () => {
    // 400,000 names (7 MB, parsed in the thread) need well over 16 MiB of heap to parse.
    const { client, lines, failures } = await enrolled({ parseMemoryMb: 16 });
    await client.start();
    const before = edge.snapshot.version;
    await control.publish(bundleWithList(before + 1, 400_000));
    await untilAsync(
      async () => (await failures("parser_out_of_memory")) > 0,
      "the parse refused",
      30_000,
    );
    assert.equal(edge.snapshot.version, before, "the running config stays");
    assert.ok(
      lines.some((l) =>
        /ERROR: refused the config poll's answer: parsing the bundle needs more than the parser thread's 16 MiB heap \(edge\.limits\.bundleParseMemoryMb\); keeping config v/.test(
          l,
        ),
      ),
      lines.join("\n"),
    );
    await client.stop();
    // The same bundle parses within the default limit.
    const { client: roomy } = await enrolled();
    await roomy.start();
    await until(
      () => edge.snapshot.version === before + 1,
      "applied with the default limit",
      60_000,
    );
    await roomy.stop();
  });

  test("a config poll woken with a status (drain, activate) acts at once, and beatNow reports it at once", async () => {
    control.refuse = [];
    const seen: string[] = [];
    let serving: "serving" | "draining" | "drained" = "serving";
    let beatNow = () => {};
    const { client } = await enrolled({
      softwareVersion: "9.9.9",
      // Far longer than the test: only the wake and beatNow can bring what is asserted.
      heartbeatIntervalMs: 3_600_000,
      serving: () => serving,
      onDrain: () => {
        seen.push("draining");
        serving = "drained";
        beatNow();
      },
      onActive: () => seen.push("active"),
    });
    beatNow = () => client.beatNow();
    const beatsBefore = control.heartbeats.length;
    await client.start();
    await until(() => control.heartbeats.length > beatsBefore, "the first heartbeat");
    const beats = control.heartbeats.length;
    await until(() => control.requests.at(-1) === "/api/v1/edge/config", "a waiting poll");
    control.wakeWithStatus("draining");
    await until(() => seen.includes("draining"), "onDrain from the woken poll");
    await until(() => control.heartbeats.length > beats, "the heartbeat beatNow sent");
    assert.equal((control.heartbeats.at(-1) as unknown as { serving?: string }).serving, "drained");
    await until(() => control.requests.at(-1) === "/api/v1/edge/config", "a waiting poll");
    control.wakeWithStatus("active");
    await until(() => seen.includes("active"), "onActive from the woken poll");
    assert.equal(control.heartbeats.length, beats + 1, "no other heartbeat meanwhile");
    assert.ok(control.versionHeaders.includes("9.9.9"), "every request says the version");
    await client.stop();
  });

  test("426 GH_ERR_EDGE_TOO_OLD: logged as an error with control's reason every time, counted too_old; the config keeps serving", async () => {
    control.refuse = [{ status: 426, code: "GH_ERR_EDGE_TOO_OLD" }];
    const served = edge.snapshot.version;
    const { client, lines, failures } = await enrolled();
    await client.start();
    await until(() => client.consecutiveFailures >= 2, "two refusals", 10_000);
    assert.ok((await failures("too_old")) >= 2);
    assert.ok(
      lines.filter((l) =>
        /ERROR: control answered 426 GH_ERR_EDGE_TOO_OLD to the config poll/.test(l),
      ).length >= 2,
      lines.join("\n"),
    );
    assert.equal(edge.snapshot.version, served);
    await client.stop();
    control.refuse = [];
  });

  test("a 429's Retry-After is the least the edge waits", async () => {
    control.refuse = [{ status: 429, code: "GH_ERR_RATE_LIMITED", retryAfter: 7 }];
    const { client, gauge } = await enrolled();
    await client.start();
    await until(() => client.consecutiveFailures >= 1, "a refused poll");
    assert.ok((await gauge("gatehouse_edge_sync_backoff_seconds")) >= 7);
    await client.stop();
    control.refuse = [];
  });

  test("told it is decommissioned, the edge stops polling and heartbeating, says so and remembers it", async () => {
    control.refuse = [{ status: 410, code: "GH_ERR_EDGE_DECOMMISSIONED" }];
    const told: string[] = [];
    const { client, dataDir, lines, gauge, failures } = await enrolled({
      onDecommissioned: (m) => told.push(m),
    });
    control.requests.length = 0;
    await client.start();
    await until(() => told.length === 1, "onDecommissioned");
    assert.equal(client.decommissioned, true);
    assert.match(told[0]!, /refused with 410/);
    assert.ok(lines.some((l) => /DECOMMISSIONED by control/.test(l)));
    assert.equal(await gauge("gatehouse_edge_decommissioned"), 1);
    assert.equal(await failures("decommissioned"), 1);
    assert.equal(await gauge("gatehouse_edge_config_last_sync_timestamp_seconds"), 0);
    // Both loops have stopped: nothing more reaches control (heartbeats were every 20 ms).
    await client.stop();
    const seen = control.requests.length;
    assert.ok(seen <= 2, `one poll and at most one heartbeat, not ${seen}`);
    const marker = JSON.parse(await readFile(join(dataDir, "decommissioned.json"), "utf8"));
    assert.equal(marker.edgeId, "edge1");
    // A restart on that data directory refuses to start.
    const again = new SyncClient({
      controlUrl: control.url,
      dataDir,
      target: edge,
      softwareVersion: "test",
      registry: new Registry(),
      log: () => {},
    });
    await assert.rejects(
      again.start(),
      /this edge was decommissioned by control at .* \(edge edge1\) and does not serve: to bring it back, remove .*credential\.json and .*decommissioned\.json/,
    );
    assert.equal(control.requests.length, seen, "the restarted client asked control nothing");
    control.refuse = [];
  });
});
