// Issue 17: how `gatehouse up` picks its listen addresses and describes them in the banner.
import assert from "node:assert/strict";
import { createServer, type Server } from "node:net";
import { after, test } from "node:test";
import { lanAddresses, lanNetworks, listenHosts } from "../src/commands/listen-scope.ts";
import { checkChosen, listenScope, pickDefault } from "../src/commands/ports.ts";
import { starterNetworks } from "../src/commands/up.ts";
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
  assert.deepEqual(got, { address: `127.0.0.1:${port}`, addresses: [`127.0.0.1:${port}`] });
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

test("several addresses: one port free on all of them; taken on one, the next is used on all", async () => {
  const s = createServer();
  const port = await freePort();
  await new Promise<void>((res) => s.listen({ host: "127.0.0.3", port }, () => res()));
  held.push(s);
  const got = await pickDefault(
    { what: "DNS-over-TLS server", flag: "--dot" },
    ["127.0.0.2", "127.0.0.3"],
    [port],
    new Set(),
  );
  const used = Number(got.address.split(":")[1]);
  assert.ok(used > port, got.address);
  assert.deepEqual(got.addresses, [`127.0.0.2:${used}`, `127.0.0.3:${used}`]);
  assert.equal(
    got.note,
    `port ${port} is taken by another program: using port ${used} for the DNS-over-TLS server instead (choose one with --dot ADDR:PORT)`,
  );
});

const IFACES = {
  lo: [
    {
      address: "127.0.0.1",
      netmask: "255.0.0.0",
      family: "IPv4",
      mac: "",
      internal: true,
      cidr: "127.0.0.1/8",
    },
  ],
  eth0: [
    {
      address: "192.168.1.20",
      netmask: "255.255.255.0",
      family: "IPv4",
      mac: "",
      internal: false,
      cidr: "192.168.1.20/24",
    },
    {
      address: "2001:db8:1:2::20",
      netmask: "ffff:ffff:ffff:ffff::",
      family: "IPv6",
      mac: "",
      internal: false,
      cidr: "2001:db8:1:2::20/64",
      scopeid: 0,
    },
    {
      address: "fe80::1",
      netmask: "ffff:ffff:ffff:ffff::",
      family: "IPv6",
      mac: "",
      internal: false,
      cidr: "fe80::1/64",
      scopeid: 2,
    },
  ],
  wlan0: [
    {
      address: "198.51.100.7",
      netmask: "255.255.254.0",
      family: "IPv4",
      mac: "",
      internal: false,
      cidr: "198.51.100.7/23",
    },
  ],
} as Parameters<typeof lanAddresses>[0];

test("--listen lan: the interfaces' addresses (no loopback, no link-local), IPv4 first", () => {
  assert.deepEqual(lanAddresses(IFACES), ["192.168.1.20", "198.51.100.7", "2001:db8:1:2::20"]);
  assert.deepEqual(
    listenHosts("lan", () => lanAddresses(IFACES)),
    {
      mode: "lan",
      hosts: ["127.0.0.1", "192.168.1.20", "198.51.100.7", "2001:db8:1:2::20"],
    },
  );
  assert.deepEqual(listenHosts("loopback"), { mode: "loopback", hosts: ["127.0.0.1"] });
  assert.deepEqual(listenHosts("127.0.0.2, [::1]"), {
    mode: "addresses",
    hosts: ["127.0.0.2", "::1"],
  });
  assert.throws(() => listenHosts("lan", () => []), /no address on a local network/);
  assert.throws(() => listenHosts("0.0.0.0"), /not 0\.0\.0\.0 or ::; use --listen lan/);
  assert.throws(() => listenHosts("eth0"), /loopback, lan or IP addresses/);
});

test("the starter location: loopback, the private ranges and this machine's own networks", () => {
  assert.deepEqual(lanNetworks(IFACES), [
    "192.168.1.0/24",
    "2001:db8:1:2:0:0:0:0/64",
    "198.51.100.0/23",
  ]);
  assert.deepEqual(starterNetworks(lanNetworks(IFACES)), [
    "127.0.0.0/8",
    "::1/128",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "fc00::/7",
    "2001:db8:1:2:0:0:0:0/64",
    "198.51.100.0/23",
  ]);
});
