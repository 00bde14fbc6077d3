// Every list syntax users subscribe to, end to end: a local HTTP server on loopback publishes a
// generated list in each format (hosts, plain, adblock with wildcards/regexes/exceptions/
// modifiers, dnsmasq, Pi-hole regex), control subscribes and fetches it, publishes a bundle, and
// the edge's compiled lists give the verdicts the format means. Lines that cannot be used are
// skipped and named in the subscription's status, never fatal.

import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { after, before, test } from "node:test";
import { type ConfigBundle, checkBundle, domainsOf } from "@gatehouse/contract";
import { buildApp } from "@gatehouse/control";
import { compileSnapshot } from "@gatehouse/edge";
import type { FastifyInstance } from "fastify";

let app: FastifyInstance;
let token: string;
let server: Server;
let base = "";
const files = new Map<string, string>();

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

/** A list shaped like the published ones: a header, comments, many entries, a few odd lines. */
function generated(format: string, n: number): string {
  const out: string[] = [];
  switch (format) {
    case "hosts":
      out.push("# Title: generated hosts", "127.0.0.1 localhost", "::1 ip6-localhost", "");
      for (let i = 0; i < n; i += 2)
        out.push(`0.0.0.0 h${i}.hosts.test h${i + 1}.hosts.test # pair`);
      out.push("0.0.0.0 bad..name.test");
      break;
    case "plain":
      out.push("# generated domains");
      for (let i = 0; i < n; i++) out.push(`p${i}.plain.test`);
      out.push("*.wild.plain.test", "not a name");
      break;
    case "adblock":
      out.push("[Adblock Plus 2.0]", "! Title: generated adblock", "! Expires: 1 day");
      for (let i = 0; i < n; i++) out.push(`||a${i}.adblock.test^`);
      out.push(
        "||ad*.wild.test^",
        "||*.sub.test^",
        "|exact.test^",
        "/^track[0-9]+\\./",
        "||adblock.test^",
        "@@||a1.adblock.test^",
        "@@||ok*.adblock.test^",
        "||imp.test^$important",
        "@@||imp.test^",
        "||v6.test^$dnstype=AAAA",
        "||dropped.test^",
        "||dropped.test^$badfilter",
        "||deny.test^$denyallow=fine.deny.test",
        "||rw.test^$dnsrewrite=10.0.0.7",
        "||tp.test^$third-party",
        "||path.test/banner/*",
        "example.test##.banner",
        "||bad..name^",
      );
      break;
    case "dnsmasq":
      out.push("# dnsmasq format");
      for (let i = 0; i < n; i++) out.push(`address=/d${i}.dnsmasq.test/0.0.0.0`);
      out.push(
        "server=/srv.dnsmasq.test/",
        "local=/loc.dnsmasq.test/",
        "server=/fw.test/192.0.2.1",
      );
      out.push("address=/bad..test/");
      break;
    case "regex":
      out.push("# Pi-hole regex list");
      out.push("(^|\\.)doubleclick\\.test$", "^ad[sx]?[0-9]*\\.", "^telemetry\\.", "(unclosed");
      break;
  }
  return `${out.join("\n")}\n`;
}

const FORMATS: {
  format: string;
  yes: string[];
  no: string[];
  invalid: number;
  unsupported?: number;
}[] = [
  {
    format: "hosts",
    yes: ["h0.hosts.test", "h1.hosts.test", "x.h199.hosts.test"],
    no: ["localhost", "hosts.test"],
    invalid: 1,
  },
  {
    format: "plain",
    yes: ["p0.plain.test", "a.p5.plain.test", "x.wild.plain.test"],
    no: ["wild.plain.test", "plain.test"],
    invalid: 1,
  },
  {
    format: "adblock",
    yes: [
      "a0.adblock.test",
      "ad1.wild.test",
      "x.sub.test",
      "exact.test",
      "track7.any.test",
      "imp.test",
      "deny.test",
      "rw.test",
      "adblock.test",
    ],
    no: [
      "a1.adblock.test",
      "ok5.adblock.test",
      "sub.test",
      "x.exact.test",
      "v6.test",
      "dropped.test",
      "fine.deny.test",
      "tp.test",
      "path.test",
      "example.test",
    ],
    invalid: 1,
    unsupported: 3,
  },
  {
    format: "dnsmasq",
    yes: ["d0.dnsmasq.test", "x.d9.dnsmasq.test", "srv.dnsmasq.test", "loc.dnsmasq.test"],
    no: ["fw.test", "dnsmasq.test"],
    invalid: 1,
    unsupported: 1,
  },
  {
    format: "regex",
    yes: ["doubleclick.test", "x.doubleclick.test", "ads1.example", "telemetry.x.test"],
    no: ["notdoubleclick.test", "bad.example"],
    invalid: 1,
  },
];

before(async () => {
  app = await buildApp({ logger: false, autoPublishDelayMs: 0 });
  token = app.gatehouse.adminToken!;
  for (const f of FORMATS) files.set(`/${f.format}.txt`, generated(f.format, 200));
  server = createServer((req, res) => {
    const body = files.get(req.url ?? "");
    if (body === undefined) res.writeHead(404).end();
    else res.writeHead(200, { "content-type": "text/plain" }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
after(async () => {
  await app?.close();
  await new Promise((r) => server?.close(r));
});

test("a subscription of each format reaches the edge with the format's meaning", async () => {
  for (const f of FORMATS) {
    const id = (await api("POST", "/lists", { name: `sub_${f.format}`, type: "domain" })).json()
      .id as string;
    const put = await api("PUT", `/lists/${id}/subscription`, {
      url: `${base}/${f.format}.txt`,
      format: f.format === "regex" ? "regex" : "auto",
    });
    assert.equal(put.statusCode, 200, put.body);
    const r = await api("POST", `/lists/${id}/subscription/refresh`);
    assert.equal(r.statusCode, 200, r.body);
    const st = r.json();
    assert.equal(st.status, "updated", `${f.format}: ${r.body}`);
    assert.equal(st.invalid, f.invalid, `${f.format}: invalid lines counted`);
    assert.equal(st.unsupported ?? 0, f.unsupported ?? 0, `${f.format}: unsupported rules counted`);
    assert.equal(st.rejected.length, f.invalid, `${f.format}: rejected lines named`);
    assert.ok(st.rejected[0].line > 1, `${f.format}: with a line number`);
    const view = (await api("GET", `/lists/${id}/subscription`)).json();
    assert.deepEqual(view.lastStatus.rejected, st.rejected);
    const pol = await api("POST", "/policies", {
      name: `block ${f.format}`,
      type: "dns",
      expression: `any(dns.domains[*] in $sub_${f.format})`,
      action: "block",
    });
    assert.equal(pol.statusCode, 201, pol.body);
  }
  const published = await api("POST", "/config/publish", {});
  assert.equal(published.statusCode, 200, published.body);
  const bundle = (
    await api("GET", `/config/versions/${published.json().version}`)
  ).json() as ConfigBundle;
  assert.deepEqual(checkBundle(bundle), []);
  const snap = compileSnapshot(bundle);
  for (const f of FORMATS) {
    const list = snap.lists.domains(`sub_${f.format}`)!;
    const stats = snap.lists.stats.find((s) => s.name === `sub_${f.format}`)!;
    // What control stored, the edge reads back without a single rejected line.
    assert.equal(stats.rejected, 0, `${f.format}: ${JSON.stringify(stats.samples)}`);
    const verdict = (name: string) => {
      snap.lists.query.begin(1, "A", "192.0.2.1");
      try {
        return list.hasAny(domainsOf(name));
      } finally {
        snap.lists.query.end();
      }
    };
    for (const n of f.yes) assert.equal(verdict(n), true, `${f.format}: ${n} blocked`);
    for (const n of f.no) assert.equal(verdict(n), false, `${f.format}: ${n} not blocked`);
  }
});
