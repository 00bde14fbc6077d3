// What an edge tells control it serves (issue 17, "Connect a device" for a standalone control):
// wildcard binds given as the machine's addresses, the certificate's leaf summarised once per
// certificate, the public name; and a heartbeat to a control too old to take the report is sent
// again without it (and the report left out from then on).
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { type NetworkInterfaceInfo, tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { EndpointsReporter, edgeRegistry, ensureSelfSigned, SyncClient } from "@gatehouse/edge";

const iface = (address: string, family: "IPv4" | "IPv6", internal = false) =>
  ({
    address,
    family,
    internal,
    netmask: "",
    mac: "",
    cidr: null,
  }) as unknown as NetworkInterfaceInfo;
const IFACES = {
  lo: [iface("127.0.0.1", "IPv4", true), iface("::1", "IPv6", true)],
  eth0: [iface("192.168.1.20", "IPv4"), iface("fe80::1", "IPv6"), iface("2001:db8::20", "IPv6")],
};
const ADDRESSES = {
  dns: {
    udp: ["0.0.0.0:53"],
    tcp: ["[::]:53"],
    dot: ["192.168.1.20:853"],
    doh: ["127.0.0.1:8443"],
  },
  proxy: { http: ["127.0.0.1:3128"] },
};

const dir = await mkdtemp(join(tmpdir(), "gh-endpoints-"));
after(() => rm(dir, { recursive: true, force: true }));

describe("the endpoints report", () => {
  test("wildcard binds are the machine's addresses (no link-local); listeners as bound", async () => {
    const cert = await ensureSelfSigned({
      dir: join(dir, "a"),
      names: ["dns.example.lan"],
      ips: ["192.168.1.20"],
    });
    const r = new EndpointsReporter("dns.example.lan").report(ADDRESSES, cert.cert, IFACES);
    assert.deepEqual(r.dns.udp, ["127.0.0.1:53", "192.168.1.20:53"]);
    assert.deepEqual(r.dns.tcp, [
      "127.0.0.1:53",
      "192.168.1.20:53",
      "[::1]:53",
      "[2001:db8::20]:53",
    ]);
    assert.deepEqual(r.dns.dot, ["192.168.1.20:853"]);
    assert.deepEqual(r.dns.doh, ["127.0.0.1:8443"]);
    assert.deepEqual(r.proxy, ["127.0.0.1:3128"]);
    assert.equal(r.publicName, "dns.example.lan");
    const x = new X509Certificate(cert.cert);
    assert.equal(r.certificate?.sha256, x.fingerprint256);
    assert.equal(r.certificate?.selfSigned, true);
    assert.ok(r.certificate?.names.includes("dns.example.lan"));
    assert.equal(r.certificate?.notAfter, new Date(x.validTo).toISOString());
  });

  test("a certificate file holding a chain reports its leaf only; no DoT or DoH: no certificate", async () => {
    const leaf = await ensureSelfSigned({ dir: join(dir, "b"), names: ["b.example"], ips: [] });
    const other = await ensureSelfSigned({ dir: join(dir, "c"), names: ["c.example"], ips: [] });
    const rep = new EndpointsReporter(undefined);
    const r = rep.report(ADDRESSES, `${leaf.cert.trimEnd()}\n${other.cert}`, IFACES);
    assert.equal(r.certificate?.pem, new X509Certificate(leaf.cert).toString());
    assert.equal(r.publicName, undefined);
    const plain = rep.report(
      { dns: { udp: ["127.0.0.1:53"], tcp: [], dot: [], doh: [] }, proxy: { http: [] } },
      leaf.cert,
      IFACES,
    );
    assert.equal(plain.certificate, undefined);
  });

  test("many addresses: the report keeps the contract's limit", () => {
    const many = Object.fromEntries(
      Array.from({ length: 40 }, (_, i) => [`eth${i}`, [iface(`10.0.${i}.1`, "IPv4")]]),
    );
    const r = new EndpointsReporter(undefined).report(ADDRESSES, undefined, many);
    assert.equal(r.dns.udp.length, 32);
  });
});

describe("heartbeats to a control older than the report", () => {
  test("refused with 400 for the unknown field: sent again at once without it, and left out after", async () => {
    const beats: { endpoints?: unknown }[] = [];
    const read = async (req: IncomingMessage) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      return JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
    };
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://x");
      const json = (status: number, v?: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(v === undefined ? undefined : JSON.stringify(v));
      };
      if (url.pathname === "/api/v1/edge/enroll")
        return json(201, { edgeId: "e1", accountId: "a1", credential: "ghe_fake" });
      if (url.pathname === "/api/v1/edge/config") {
        setTimeout(() => json(304), 200);
        return;
      }
      if (url.pathname === "/api/v1/edge/heartbeat") {
        void read(req).then((b: { endpoints?: unknown }) => {
          beats.push(b);
          // What an older control's schema (additionalProperties: false) answers.
          if (b.endpoints !== undefined)
            return json(400, {
              error: {
                code: "GH_ERR_VALIDATION",
                message: "body must NOT have additional properties",
              },
            });
          json(200, { status: "active" });
        });
        return;
      }
      json(404, {});
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const lines: string[] = [];
    const client = new SyncClient({
      controlUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      dataDir: join(dir, "sync"),
      target: { snapshot: { version: 0 }, apply: async () => undefined },
      joinToken: "join_x",
      softwareVersion: "test",
      registry: edgeRegistry(),
      heartbeatIntervalMs: 30,
      log: (l) => lines.push(l),
      endpoints: () => new EndpointsReporter(undefined).report(ADDRESSES, undefined, IFACES),
    });
    try {
      await client.start();
      const end = Date.now() + 5000;
      while (beats.length < 4 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
      assert.ok(beats.length >= 4, `${beats.length} heartbeats`);
      assert.notEqual(beats[0]!.endpoints, undefined);
      assert.ok(beats.slice(1).every((b) => b.endpoints === undefined));
      assert.equal(lines.filter((l) => /refused the heartbeat's endpoints/.test(l)).length, 1);
    } finally {
      await client.stop();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
