// Issue 17: how `gatehouse up` picks its listen addresses and describes them in the banner.
import assert from "node:assert/strict";
import { createServer, type Server } from "node:net";
import { after, test } from "node:test";
import { checkChosen, listenScope, pickDefault } from "../src/commands/ports.ts";
import { freePort } from "./support/processes.ts";

const held: Server[] = [];
after(() => {
  for (const s of held) s.close();
});

/** Hold a free loopback TCP port. */
async function holdPort(): Promise<number> {
  const s = createServer();
  const port = await new Promise<number>((res) =>
    s.listen({ host: "127.0.0.1", port: 0 }, () => res((s.address() as { port: number }).port)),
  );
  held.push(s);
  return port;
}

const METRICS = { what: "edge metrics", flag: "--metrics" };
const DNS = { what: "DNS server", flag: "--dns", udp: true };

test("a free default is used as it is, with no note", async () => {
  const port = await freePort();
  const got = await pickDefault(METRICS, "127.0.0.1", [port], new Set());
  assert.deepEqual(got, { address: `127.0.0.1:${port}` });
});

test("a taken default falls back to a free port above it, and the note names both and the flag", async () => {
  const port = await holdPort();
  const got = await pickDefault(METRICS, "127.0.0.1", [port], new Set());
  const used = Number(got.address.split(":")[1]);
  assert.ok(used > port && used <= port + 100, got.address);
  assert.equal(
    got.note,
    `127.0.0.1:${port} is taken by another program: using ${got.address} for the edge metrics instead (choose one with --metrics ADDR:PORT)`,
  );
});

test("a port given to another listener is not handed out again", async () => {
  const port = await freePort();
  const avoid = new Set([port]);
  const got = await pickDefault(DNS, "127.0.0.1", [port], avoid);
  assert.notEqual(got.address, `127.0.0.1:${port}`);
  assert.ok(avoid.has(Number(got.address.split(":")[1])));
});

test("DNS: the first candidate taken, the next one is used (53, else 10053) and the note says why", async () => {
  const taken = await holdPort();
  const next = await freePort();
  const got = await pickDefault(DNS, "127.0.0.1", [taken, next], new Set());
  assert.equal(got.address, `127.0.0.1:${next}`);
  assert.equal(
    got.note,
    `127.0.0.1:${taken} is taken by another program: using 127.0.0.1:${next} for the DNS server instead (choose one with --dns ADDR:PORT)`,
  );
});

test("a chosen address is kept when free and a clear error when not", async () => {
  const port = await holdPort();
  await assert.rejects(checkChosen(METRICS, `127.0.0.1:${port}`), {
    message: `127.0.0.1:${port} for the edge metrics (--metrics) is taken by another program; choose another port with --metrics ADDR:PORT`,
  });
  assert.equal(await checkChosen(METRICS, "127.0.0.1:0"), "127.0.0.1:0");
  await assert.rejects(checkChosen(METRICS, "192.0.2.1:9153"), /is not an address of this machine/);
});

test("the banner's scope line comes from the bound addresses", () => {
  assert.deepEqual(listenScope(["127.0.0.1:53", "[::1]:3128", "http://127.0.0.1:8787"]), [
    "Gatehouse is running on loopback only (127.0.0.1, ::1): only this machine can reach it.",
  ]);
  const wide = listenScope(["0.0.0.0:53", "192.168.1.5:3128", "http://127.0.0.1:8787"]).join(" ");
  assert.match(
    wide,
    /^Gatehouse is running on 0\.0\.0\.0 \(every address of this machine\), 192\.168\.1\.5, 127\.0\.0\.1: other machines can reach it\./,
  );
  assert.match(wide, /only clients inside a location's networks/);
});
