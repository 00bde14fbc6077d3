// Issue 17 "Connect a device" for a standalone control: edges report in their heartbeat what they
// serve (listeners per protocol, the DoT/DoH certificate, a public name); control keeps the
// latest per edge, shows it on the edges API, and the Connect answer is built from the edges that
// serve the location (public name > a non-loopback address > loopback, said so). A heartbeat
// without the report (an older edge) is still taken. PGlite and PostgreSQL.

import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { BACKENDS, call, closeSharedPglite, openTestApp, type TestApp } from "./helpers.ts";

after(closeSharedPglite);

/** A certificate for the reports (test/fixtures/connect-certificate.pem says its origin). */
const CERT = await (async () => {
  const text = await readFile(
    new URL("./fixtures/connect-certificate.pem", import.meta.url),
    "utf8",
  );
  const pem = text.slice(text.indexOf("-----BEGIN"));
  const x = new X509Certificate(pem);
  return {
    sha256: x.fingerprint256,
    subject: x.subject,
    names: ["gatehouse.home.arpa"],
    notAfter: new Date(x.validTo).toISOString(),
    selfSigned: true,
    pem,
  };
})();

const report = (over: Record<string, unknown> = {}) => ({
  dns: {
    udp: ["127.0.0.1:10053", "192.168.1.20:53"],
    tcp: ["127.0.0.1:10053", "192.168.1.20:53"],
    dot: ["192.168.1.20:853"],
    doh: ["192.168.1.20:8443"],
  },
  proxy: ["192.168.1.20:3128"],
  certificate: CERT,
  ...over,
});

for (const b of BACKENDS) {
  describe(`edge endpoints and Connect on a standalone control (${b.name})`, {
    skip: b.skip,
  }, () => {
    let t: TestApp;
    let viewer = "";
    let locationId = "";
    let dohToken = "";
    const edges: Record<string, { id: string; credential: string }> = {};
    const api = (method: string, url: string, body?: unknown, token = t.token) =>
      call(t.app, token, method as "GET", `/api/v1${url}`, body);
    const heartbeat = (credential: string, extra: Record<string, unknown> = {}) =>
      call(t.app, credential, "POST", "/api/v1/edge/heartbeat", {
        version: "0.1.0",
        configVersion: 1,
        uptimeSeconds: 1,
        ...extra,
      });
    const enrol = async (name: string) => {
      const tok = (await api("POST", "/edges/join-tokens", {})).json().joinToken;
      const r = await call(t.app, undefined, "POST", "/api/v1/edge/enroll", {
        joinToken: tok,
        name,
        version: "0.1.0",
      });
      assert.equal(r.statusCode, 201, r.body);
      edges[name] = { id: r.json().edgeId, credential: r.json().credential };
      return edges[name];
    };
    const connect = () => api("GET", `/locations/${locationId}/connect`, undefined, viewer);

    before(async () => {
      t = await openTestApp(b.name, { heartbeatIntervalMs: 60_000 });
      viewer = (await api("POST", "/tokens", { name: "v", role: "viewer" })).json().token;
      const loc = await api("POST", "/locations", { name: "home", networks: ["192.168.1.0/24"] });
      assert.equal(loc.statusCode, 201, loc.body);
      locationId = loc.json().id;
      dohToken = loc.json().dohToken;
    });
    after(async () => t?.close());

    it("an older edge's heartbeat (no endpoints) is taken; with no report and no `up`, Connect says what is missing", async () => {
      const e = await enrol("old-edge");
      const hb = await heartbeat(e.credential);
      assert.equal(hb.statusCode, 200, hb.body);
      const view = (await api("GET", `/edges/${e.id}`, undefined, viewer)).json();
      assert.equal(view.endpoints, null);
      const c = await connect();
      assert.equal(c.statusCode, 409, c.body);
      assert.match(c.json().error.message, /no edge has reported its listeners/);
    });

    it("a report with a public name: the edges API shows it, Connect builds the DoH URL and DoT name on the name", async () => {
      const e = await enrol("edge-a");
      const hb = await heartbeat(e.credential, {
        endpoints: report({ publicName: "dns.example.lan" }),
      });
      assert.equal(hb.statusCode, 200, hb.body);
      const view = (await api("GET", `/edges/${e.id}`, undefined, viewer)).json();
      assert.equal(view.endpoints.publicName, "dns.example.lan");
      assert.deepEqual(view.endpoints.dns.doh, ["192.168.1.20:8443"]);
      assert.equal(view.endpoints.certificate.sha256, CERT.sha256);
      const list = (await api("GET", "/edges", undefined, viewer)).json();
      assert.equal(
        list.items.find((x: { id: string }) => x.id === e.id).endpoints.publicName,
        "dns.example.lan",
      );

      const c = await connect();
      assert.equal(c.statusCode, 200, c.body);
      const info = c.json();
      assert.deepEqual(info.servedBy, { id: e.id, name: "edge-a" });
      assert.equal(info.scope, "lan");
      assert.equal(info.doh.url, `https://dns.example.lan:8443/dns-query/${dohToken}`);
      assert.deepEqual(info.dot, {
        hostname: "dns.example.lan",
        address: "192.168.1.20",
        port: 853,
      });
      // LAN addresses first: the loopback listener is not one a device can use.
      assert.deepEqual(info.dns, [{ address: "192.168.1.20", port: 53 }]);
      assert.deepEqual(info.proxy, {
        address: "192.168.1.20:3128",
        pacUrl: "http://192.168.1.20:3128/proxy.pac",
      });
      assert.equal(info.certificate.source, "self-signed");
      assert.equal(info.certificate.sha256, CERT.sha256);
      assert.equal(info.certificate.pem, CERT.pem);
      assert.equal(info.edges.length, 1);
      // The Apple profile is made from the edge's answer too.
      const prof = await api(
        "GET",
        `/locations/${locationId}/connect/apple-profile?transport=doh`,
        undefined,
        viewer,
      );
      assert.equal(prof.statusCode, 200, prof.body);
      assert.ok(prof.body.includes(`https://dns.example.lan:8443/dns-query/${dohToken}`));
    });

    it("a heartbeat without the report keeps the last one", async () => {
      const hb = await heartbeat(edges["edge-a"]!.credential);
      assert.equal(hb.statusCode, 200, hb.body);
      const view = (await api("GET", `/edges/${edges["edge-a"]!.id}`, undefined, viewer)).json();
      assert.equal(view.endpoints.publicName, "dns.example.lan");
    });

    it("no public name: a non-loopback listener address; loopback only: said so, with how to change it; every edge listed", async () => {
      const lan = await enrol("edge-b");
      assert.equal(
        (
          await heartbeat(lan.credential, {
            endpoints: report({
              dns: {
                udp: ["10.1.2.3:53"],
                tcp: ["10.1.2.3:53"],
                dot: ["10.1.2.3:853"],
                doh: ["[fd00::3]:443", "10.1.2.3:443"],
              },
            }),
          })
        ).statusCode,
        200,
      );
      const lo = await enrol("edge-c");
      assert.equal(
        (
          await heartbeat(lo.credential, {
            endpoints: report({
              dns: { udp: ["127.0.0.1:10053"], tcp: [], dot: ["127.0.0.1:8853"], doh: [] },
              proxy: [],
            }),
          })
        ).statusCode,
        200,
      );
      const info = (await connect()).json();
      // edge-a still gives the top-level answer (the edges sort by name among equals).
      assert.equal(info.servedBy.name, "edge-a");
      const byName = Object.fromEntries(
        info.edges.map((e: { name: string }) => [e.name, e]),
      ) as Record<string, Record<string, never>>;
      assert.deepEqual(Object.keys(byName).sort(), ["edge-a", "edge-b", "edge-c"]);
      // Ordered: edges reachable from the network before the loopback-only one.
      assert.equal(info.edges.at(-1).name, "edge-c");
      const b_ = info.edges.find((e: { name: string }) => e.name === "edge-b");
      assert.equal(b_.scope, "lan");
      assert.equal(b_.dot.hostname, "10.1.2.3");
      assert.equal(b_.doh.url.startsWith("https://10.1.2.3/dns-query/"), true, b_.doh.url);
      const c_ = info.edges.find((e: { name: string }) => e.name === "edge-c");
      assert.equal(c_.scope, "loopback");
      assert.equal(c_.dot.hostname, "127.0.0.1");
      assert.ok(
        c_.warnings.some((w: string) =>
          /Edge "edge-c" listens on loopback only .*--listen lan/.test(w),
        ),
        JSON.stringify(c_.warnings),
      );
      assert.equal(c_.proxy, undefined);
      // A decommissioned edge is not listed.
      assert.equal((await api("DELETE", `/edges/${lo.id}`)).statusCode, 200);
      const after_ = (await connect()).json();
      assert.deepEqual(after_.edges.map((e: { name: string }) => e.name).sort(), [
        "edge-a",
        "edge-b",
      ]);
    });

    it("a report that breaks the limits is refused with the reason (400), not stored", async () => {
      const e = edges["edge-b"]!;
      for (const bad of [
        report({ publicName: "not a name" }),
        report({ proxy: ["0.0.0.0:99999999"] }),
        report({ proxy: Array.from({ length: 40 }, (_, i) => `10.0.0.${i}:3128`) }),
        report({ certificate: { ...CERT, pem: "x".repeat(20_000) } }),
        { ...report(), extra: 1 },
      ]) {
        const r = await heartbeat(e.credential, { endpoints: bad });
        assert.equal(r.statusCode, 400, r.body);
      }
      const view = (await api("GET", `/edges/${e.id}`, undefined, viewer)).json();
      assert.deepEqual(view.endpoints.dns.dot, ["10.1.2.3:853"]);
    });

    it("authz: the report is read by viewers and above; neither an edge's credential nor no token reads it", async () => {
      const e = edges["edge-a"]!;
      // An edge credential is no API token: the viewer routes do not know it.
      assert.equal((await api("GET", "/edges", undefined, e.credential)).statusCode, 401);
      assert.equal((await call(t.app, undefined, "GET", "/api/v1/edges")).statusCode, 401);
      assert.equal(
        (await call(t.app, undefined, "GET", `/api/v1/locations/${locationId}/connect`)).statusCode,
        401,
      );
      assert.equal(
        (await api("GET", `/locations/${locationId}/connect`, undefined, e.credential)).statusCode,
        401,
      );
      // Only the edge itself reports (a viewer's heartbeat is refused).
      assert.equal((await heartbeat(viewer, { endpoints: report() })).statusCode, 401);
      const doc = (await call(t.app, undefined, "GET", "/api/v1/openapi.json")).json();
      const text = JSON.stringify(doc);
      assert.ok(text.includes('"publicName"'), "the OpenAPI document describes the report");
    });
  });
}
