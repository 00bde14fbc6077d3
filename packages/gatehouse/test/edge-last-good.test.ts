// An edge restarted while control is down serves its last good bundle from disk, but only when
// the file matches its hash: a damaged or hand-edited file is refused at error level, counted,
// and the previous good bundle serves; with no good file left, that is said loudly too.
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import type { ConfigBundle } from "@gatehouse/contract";
import { createOpLogger, EdgeState, edgeRegistry } from "@gatehouse/edge";
import { hashedBundle } from "../../edge/test/hashed-bundle.ts";
import { startSyncedEdge } from "../src/commands/synced-edge.ts";
import { freePort, queryDns } from "./support/processes.ts";

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function rejected(reason: string): Promise<number> {
  const m = edgeRegistry().getSingleMetric("gatehouse_edge_config_disk_rejected_total");
  return m ? ((await m.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0) : 0;
}

/** An enrolled edge's data directory with bundles v3 then v4 saved; control is unreachable. */
async function dataDir(): Promise<{ dir: string; state: EdgeState }> {
  const dir = await mkdtemp(join(tmpdir(), "gh-lastgood-edge-"));
  dirs.push(dir);
  const state = new EdgeState(dir);
  await state.saveCredential({
    controlUrl: "http://127.0.0.1:9",
    edgeId: "edge-1",
    accountId: "acct",
    credential: "ghe_0123456789abcdef_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
  });
  await state.saveLastGood(await hashedBundle(3, "udp://127.0.0.1:9"));
  await state.saveLastGood(await hashedBundle(4, "udp://127.0.0.1:9"));
  return { dir, state };
}

async function start(dir: string) {
  const lines: { level: string; msg: string; reason?: string }[] = [];
  const port = await freePort();
  const edge = await startSyncedEdge({
    controlUrl: "http://127.0.0.1:9", // discard port: control is down
    dataDir: dir,
    local: { dns: { udp: [`127.0.0.1:${port}`] } },
    log: () => {},
    logger: createOpLogger({ write: (l) => lines.push(JSON.parse(l)), level: "info" }),
  });
  return { edge, lines, port };
}

test("an edited last good bundle is refused loudly and the previous good one serves", async () => {
  const { dir, state } = await dataDir();
  const edited = JSON.parse(await readFile(state.lastGoodPath, "utf8")) as ConfigBundle;
  edited.policies[0]!.enabled = false; // still a valid bundle; the hash is from before the edit
  await writeFile(state.lastGoodPath, JSON.stringify(edited));
  const before = await rejected("hash_mismatch");
  const { edge, lines, port } = await start(dir);
  try {
    assert.equal(edge.startedFrom, 3);
    assert.equal(edge.edge.edgeId, "edge-1", "records carry the enrolled id");
    assert.equal(edge.edge.snapshot.version, 3);
    const error = lines.find((l) => l.level === "error" && l.reason === "hash_mismatch");
    assert.ok(error, JSON.stringify(lines));
    assert.match(error.msg, /last-good-bundle\.json.*moved it to .*\.rejected/);
    assert.equal((await rejected("hash_mismatch")) - before, 1);
    // v3 is in force: the known client is answered and bad.example blocked.
    const r = await queryDns(port, "bad.example");
    assert.deepEqual(
      r.answers.map((a) => a.data),
      ["0.0.0.0"],
    );
  } finally {
    await edge.close();
  }
});

test("with both bundle files damaged the edge says loudly that it serves nothing", async () => {
  const { dir, state } = await dataDir();
  await writeFile(state.lastGoodPath, "{");
  await writeFile(state.previousGoodPath, "");
  const before = await rejected("not_json");
  const { edge, lines } = await start(dir);
  try {
    assert.equal(edge.startedFrom, 0);
    const errors = lines.filter((l) => l.level === "error").map((l) => l.msg);
    assert.equal(errors.length, 3, JSON.stringify(errors));
    assert.match(errors[2]!, /no good config bundle on disk: every client is refused/);
    assert.equal((await rejected("not_json")) - before, 2);
  } finally {
    await edge.close();
  }
});
