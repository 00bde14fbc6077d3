// Local zones through control: created over the API (a zone file imported whole), published in
// the bundle, answered by the edge's compiled zones; a zone that does not parse is a 422 naming
// the line and never reaches a bundle.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { type ConfigBundle, checkBundle } from "@gatehouse/contract";
import { buildApp } from "@gatehouse/control";
import type { FastifyInstance } from "fastify";
import { LocalZones } from "../../edge/src/dns/local-zones.ts";

let app: FastifyInstance;
let token: string;

const api = (method: "GET" | "POST" | "PUT", url: string, body?: unknown) =>
  app.inject({
    method,
    url: `/api/v1${url}`,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
  });

before(async () => {
  app = await buildApp({ logger: false, autoPublishDelayMs: 0 });
  token = app.gatehouse.adminToken!;
});
after(async () => app?.close());

test("a zone file imported over the API is published and answered by the edge", async () => {
  const file =
    "$TTL 300\n@ SOA ns1 hostmaster 7 3600 600 86400 60\nnas A 192.168.1.10\n*.dyn A 192.168.1.99\n";
  const created = await api("POST", "/local-zones", {
    name: "Home.Arpa.",
    zone: file,
    transferTo: ["192.0.2.53/32"],
  });
  assert.equal(created.statusCode, 201, created.body);
  assert.equal(created.json().name, "home.arpa");
  const bad = await api("POST", "/local-zones", {
    name: "bad.test",
    zone: "ok A 192.0.2.1\nx A 1.2.3",
  });
  assert.equal(bad.statusCode, 422);
  assert.match(bad.json().error.message, /line 2: not an IPv4 address/);
  const published = await api("POST", "/config/publish", {});
  assert.equal(published.statusCode, 200, published.body);
  const bundle = (
    await api("GET", `/config/versions/${published.json().version}`)
  ).json() as ConfigBundle;
  assert.deepEqual(checkBundle(bundle), []);
  assert.deepEqual(
    bundle.localZones?.map((z) => [z.name, z.transferTo]),
    [["home.arpa", ["192.0.2.53/32"]]],
  );
  const zones = new LocalZones(bundle.localZones ?? [], bundle.version);
  const z = zones.find("host1.dyn.home.arpa", undefined)!;
  assert.deepEqual(
    z.lookup("host1.dyn.home.arpa", "host1.dyn.home.arpa", 1).answers[0]?.data,
    "192.168.1.99",
  );
  assert.equal(z.lookup("nothing.home.arpa", "nothing.home.arpa", 1).rcode, "NXDOMAIN");
  assert.equal(z.negativeSoa().ttl, 60);
  // The YAML export carries the zone, and importing it back keeps it.
  const exported = await api("GET", "/config/export");
  assert.equal(exported.statusCode, 200, exported.body);
  assert.match(exported.body, /localZones:/);
  assert.match(exported.body, /\*\.dyn A 192\.168\.1\.99/);
  const back = await app.inject({
    method: "PUT",
    url: "/api/v1/config/export",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/yaml" },
    payload: exported.body,
  });
  assert.equal(back.statusCode, 200, back.body);
  const list = (await api("GET", "/local-zones")).json();
  assert.deepEqual(
    list.items.map((x: { name: string }) => x.name),
    ["home.arpa"],
  );
});
