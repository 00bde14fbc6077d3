// Query-log shipping: batches reach control as gzip NDJSON with an id; while control is down
// they wait in a bounded on-disk spool and are sent in order when it returns; a full spool and
// a refused batch are counted, not silent.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { gunzipSync } from "node:zlib";
import type { QueryLogRecord } from "@gatehouse/contract";
import { LogShipper, QueryLog } from "@gatehouse/edge";
import { Registry } from "prom-client";
import { writeFileAtomic } from "../src/sync/atomic-file.ts";
import { LOG_DROP_REASONS } from "../src/sync/log-shipper.ts";

interface Received {
  id: string;
  records: QueryLogRecord[];
}

async function fakeControl(port = 0, status = 200) {
  const received: Received[] = [];
  const server: Server = createServer(async (req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    assert.equal(req.headers.authorization, "Bearer ghe_test");
    assert.equal(req.headers["content-encoding"], "gzip");
    assert.equal(req.headers["content-type"], "application/x-ndjson");
    const text = gunzipSync(Buffer.concat(chunks)).toString("utf8");
    received.push({
      id: String(req.headers["x-batch-id"]),
      records: text
        .trimEnd()
        .split("\n")
        .map((l) => JSON.parse(l) as QueryLogRecord),
    });
    res.writeHead(status, { "content-type": "application/json" });
    res.end("{}");
  });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    port: (server.address() as AddressInfo).port,
    received,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

function rec(i: number): QueryLogRecord {
  return {
    ts: 1_700_000_000_000 + i,
    kind: "dns",
    id: `q${i}`,
    client: "127.0.0.1",
    action: "allow",
    transport: "udp",
    durationMs: 1,
    qname: `n${i}.example`,
  };
}

async function metricValue(
  r: Registry,
  name: string,
  labels?: Record<string, string>,
): Promise<number> {
  const m = r.getSingleMetric(name);
  if (!m) return 0;
  const v = (await m.get()).values.find(
    (x) => !labels || Object.entries(labels).every(([k, val]) => x.labels[k] === val),
  );
  return v?.value ?? 0;
}

describe("query-log shipper", () => {
  test("ships records in batches with ids, in order", async () => {
    const control = await fakeControl();
    const log = new QueryLog(100_000);
    const registry = new Registry();
    const shipper = new LogShipper({
      controlUrl: control.url,
      credential: () => "ghe_test",
      queryLog: log,
      spoolDir: await mkdtemp(join(tmpdir(), "gh-spool-")),
      registry,
      maxBatchRecords: 5000,
      flushIntervalMs: 50,
    });
    await shipper.start();
    for (let i = 0; i < 12_000; i++) log.push(rec(i));
    const until = Date.now() + 5000;
    while (
      control.received.reduce((n, b) => n + b.records.length, 0) < 12_000 &&
      Date.now() < until
    )
      await new Promise((r) => setTimeout(r, 20));
    await shipper.stop();
    await control.close();
    const all = control.received.flatMap((b) => b.records.map((r) => r.id));
    assert.equal(all.length, 12_000);
    assert.deepEqual(all.slice(0, 3), ["q0", "q1", "q2"]);
    assert.equal(all.at(-1), "q11999");
    assert.ok(control.received.every((b) => b.records.length <= 5000));
    assert.equal(
      new Set(control.received.map((b) => b.id)).size,
      control.received.length,
      "batch ids are unique",
    );
    assert.equal(await metricValue(registry, "gatehouse_edge_log_records_shipped_total"), 12_000);
  });

  test("spools while control is down, survives a restart, then delivers in order", async () => {
    const spoolDir = await mkdtemp(join(tmpdir(), "gh-spool-"));
    const down = await fakeControl();
    const port = down.port;
    await down.close(); // nothing listens on the port now
    const log = new QueryLog(1000);
    const opts = {
      controlUrl: `http://127.0.0.1:${port}`,
      credential: () => "ghe_test",
      spoolDir,
      flushIntervalMs: 30_000,
      maxBatchRecords: 10,
    };
    const s1 = new LogShipper({ ...opts, queryLog: log, registry: new Registry() });
    await s1.start();
    for (let i = 0; i < 25; i++) log.push(rec(i));
    await s1.flush(false);
    for (let i = 25; i < 30; i++) log.push(rec(i));
    await s1.stop();
    assert.equal((await readdir(spoolDir)).filter((f) => f.endsWith(".ndjson.gz")).length, 4);

    const control = await fakeControl(port);
    const s2 = new LogShipper({ ...opts, queryLog: new QueryLog(10), registry: new Registry() });
    await s2.start();
    // Two flushes at once (a drain while the loop flushes) still send each batch once, in order.
    await Promise.all([s2.flush(false), s2.flush(false)]);
    await s2.stop();
    await control.close();
    assert.deepEqual(
      control.received.flatMap((b) => b.records.map((r) => r.id)),
      Array.from({ length: 30 }, (_, i) => `q${i}`),
    );
    assert.equal((await readdir(spoolDir)).filter((f) => f.endsWith(".ndjson.gz")).length, 0);
  });

  test("a full spool drops and counts the newest records; a refused batch is counted", async () => {
    const spoolDir = await mkdtemp(join(tmpdir(), "gh-spool-"));
    const registry = new Registry();
    const log = new QueryLog(1000);
    const s = new LogShipper({
      controlUrl: "http://127.0.0.1:9", // discard port: nothing answers
      credential: () => "ghe_test",
      queryLog: log,
      spoolDir,
      registry,
      maxSpoolBytes: 600,
      maxBatchRecords: 10,
      flushIntervalMs: 30_000,
    });
    await s.start();
    for (let i = 0; i < 200; i++) log.push(rec(i));
    await s.flush(false);
    await s.stop();
    const dropped = await metricValue(registry, "gatehouse_edge_log_records_dropped_total", {
      reason: "spool_full",
    });
    assert.ok(dropped > 0 && dropped < 200, `dropped ${dropped}`);
    assert.ok(s.spooled.bytes <= 600);
    assert.equal(s.spooled.batches * 10 + dropped, 200);

    const refusing = await fakeControl(0, 400);
    const r2 = new Registry();
    const log2 = new QueryLog(100);
    const s2 = new LogShipper({
      controlUrl: refusing.url,
      credential: () => "ghe_test",
      queryLog: log2,
      spoolDir: await mkdtemp(join(tmpdir(), "gh-spool-")),
      registry: r2,
    });
    await s2.start();
    log2.push(rec(1));
    await s2.flush(false);
    await s2.stop();
    await refusing.close();
    assert.equal(
      await metricValue(r2, "gatehouse_edge_log_records_dropped_total", { reason: "rejected" }),
      1,
    );
  });

  test("every drop reason has a series at 0 from the start", async () => {
    const registry = new Registry();
    const s = new LogShipper({
      controlUrl: "http://127.0.0.1:9",
      credential: () => "ghe_test",
      queryLog: new QueryLog(10),
      spoolDir: await mkdtemp(join(tmpdir(), "gh-spool-")),
      registry,
      flushIntervalMs: 30_000,
    });
    const text = await registry.metrics();
    for (const reason of LOG_DROP_REASONS)
      assert.match(
        text,
        new RegExp(`gatehouse_edge_log_records_dropped_total\\{reason="${reason}"\\} 0\\n`),
      );
    assert.equal(s.spooled.batches, 0);
  });

  test("a full disk (ENOSPC) keeps the oldest batches, counts and logs every dropped record, leaves no partial file", async () => {
    const spoolDir = await mkdtemp(join(tmpdir(), "gh-spool-"));
    const registry = new Registry();
    const lines: string[] = [];
    const log = new QueryLog(1000);
    // A disk with room for ~4 batches: past that, a write leaves an empty temporary file (as
    // open() succeeded) and fails with ENOSPC, as a full tmpfs does.
    let used = 0;
    const writeSpoolFile = async (path: string, data: Uint8Array) => {
      if (used + data.length > 1200) {
        await writeFile(`${path}.0123456789ab.tmp`, "");
        throw Object.assign(new Error("ENOSPC: no space left on device, write"), {
          code: "ENOSPC",
        });
      }
      await writeFileAtomic(path, data);
      used += data.length;
    };
    const opts = {
      controlUrl: "http://127.0.0.1:9", // discard port: nothing answers
      credential: () => "ghe_test",
      spoolDir,
      maxBatchRecords: 10,
      flushIntervalMs: 30_000,
    };
    const s = new LogShipper({
      ...opts,
      queryLog: log,
      registry,
      writeSpoolFile,
      log: (l) => lines.push(l),
    });
    await s.start();
    for (let i = 0; i < 200; i++) log.push(rec(i));
    await s.flush(false);
    await s.stop();
    const diskFull = await metricValue(registry, "gatehouse_edge_log_records_dropped_total", {
      reason: "disk_full",
    });
    const spooled = s.spooled.batches;
    assert.ok(spooled > 0 && diskFull > 0, `spooled ${spooled}, dropped ${diskFull}`);
    assert.equal(spooled * 10 + diskFull, 200, "every record is either spooled or counted");
    const files = await readdir(spoolDir);
    assert.deepEqual(
      files.filter((f) => f.endsWith(".tmp")),
      [],
      "no partial file is left behind",
    );
    assert.equal(files.length, spooled);
    // Said once (not once per batch), with the reason.
    const said = lines.filter((l) => l.includes("disk_full"));
    assert.equal(said.length, 1, lines.join("\n"));
    assert.match(said[0]!, /dropped 10 query-log records \(disk_full: ENOSPC/);

    // Control comes back: the oldest records (from the start of the outage) arrive, in order.
    const control = await fakeControl();
    const s2 = new LogShipper({
      ...opts,
      controlUrl: control.url,
      queryLog: new QueryLog(10),
      registry: new Registry(),
    });
    await s2.start();
    await s2.flush(false);
    await s2.stop();
    await control.close();
    assert.deepEqual(
      control.received.flatMap((b) => b.records.map((r) => r.id)),
      Array.from({ length: spooled * 10 }, (_, i) => `q${i}`),
    );
  });

  test("start-up removes partial files and counts empty batches a killed process left", async () => {
    const spoolDir = await mkdtemp(join(tmpdir(), "gh-spool-"));
    await writeFile(join(spoolDir, "000000000001-7-abc.ndjson.gz.0123456789ab.tmp"), "partial");
    await writeFile(join(spoolDir, "000000000002-7-abd.ndjson.gz"), "");
    const registry = new Registry();
    const s = new LogShipper({
      controlUrl: "http://127.0.0.1:9",
      credential: () => "ghe_test",
      queryLog: new QueryLog(10),
      spoolDir,
      registry,
      flushIntervalMs: 30_000,
    });
    await s.start();
    await s.stop();
    assert.deepEqual(await readdir(spoolDir), []);
    assert.equal(
      await metricValue(registry, "gatehouse_edge_log_records_dropped_total", {
        reason: "spool_corrupt",
      }),
      7,
    );
  });

  test("a spool on a real 256 KiB tmpfs: disk full is counted, nothing partial is left", async (t) => {
    const mnt = await mkdtemp(join(tmpdir(), "gh-tmpfs-"));
    const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", mnt], {
      encoding: "utf8",
    });
    if (mounted.status !== 0) {
      await rm(mnt, { recursive: true, force: true });
      t.skip(
        `mounting a tmpfs is not permitted here (${(mounted.stderr || mounted.error?.message || "").trim()}); the injected-ENOSPC test covers the logic`,
      );
      return;
    }
    try {
      const registry = new Registry();
      // Room for all 40,000 records in the ring (its own byte bound is not under test here).
      const log = new QueryLog(100_000, 64 * 1024 * 1024);
      const s = new LogShipper({
        controlUrl: "http://127.0.0.1:9",
        credential: () => "ghe_test",
        queryLog: log,
        spoolDir: join(mnt, "log-spool"),
        registry,
        maxBatchRecords: 1000,
        flushIntervalMs: 30_000,
      });
      await s.start();
      // Names that do not compress away, so the disk fills after a few batches.
      const noise = (i: number) => `${(i * 2654435761) % 4294967296}`.padStart(10, "0");
      const total = 40_000;
      for (let i = 0; i < total; i++)
        log.push({ ...rec(i), qname: `${noise(i)}.${noise(i + 7)}.example` });
      await s.flush(false);
      await s.stop();
      const dropped = await metricValue(registry, "gatehouse_edge_log_records_dropped_total", {
        reason: "disk_full",
      });
      const files = await readdir(join(mnt, "log-spool"));
      const spooledRecords = files.reduce((n, f) => n + Number(f.split("-")[1]), 0);
      assert.ok(dropped > 0, "the disk filled");
      assert.equal(spooledRecords + dropped, total, "every record is spooled or counted");
      assert.equal(spooledRecords, s.spooled.batches * 1000);
      assert.deepEqual(
        files.filter((f) => f.endsWith(".tmp")),
        [],
      );
      for (const f of files) assert.ok((await stat(join(mnt, "log-spool", f))).size > 0);
    } finally {
      spawnSync("umount", [mnt]);
      await rm(mnt, { recursive: true, force: true });
    }
  });
});
