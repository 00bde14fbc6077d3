import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  bundleHash,
  canonicalJson,
  checkBundle,
  checkBundleShape,
  DAY_INDEX,
  domainsOf,
  ERROR_CODES,
  GatehouseError,
  gatewaySchemes,
  MINUTES_PER_WEEK,
  scheduleWeek,
  verifyBundleHash,
  windowLength,
} from "@gatehouse/contract";
import { hashSecret, verifySecret } from "@gatehouse/contract/secrets";
import fc from "fast-check";
import { bundle } from "./bundle-fixture.ts";

describe("domainsOf", () => {
  test("lists the name and every parent, lowercased, trailing dot dropped", () => {
    assert.deepEqual(domainsOf("A.b.Example.COM."), [
      "a.b.example.com",
      "b.example.com",
      "example.com",
      "com",
    ]);
    assert.deepEqual(domainsOf("."), []);
    assert.deepEqual(domainsOf("localhost"), ["localhost"]);
  });
});

describe("gateway schemes", () => {
  test("every scheme compiles and typical Gateway policies type-check", () => {
    const s = gatewaySchemes();
    for (const [scheme, expr] of [
      [s.dns, 'any(dns.domains[*] == "example.com") and dns.query_rtype == "A"'],
      [s.dns, "any(dns.resolved_ips[*] in {198.51.100.0/24})"],
      [s.dns, 'any(identity.groups.name[*] in {"finance"})'],
      [s.http, 'http.conn.hostname == "example.com" and http.request.method == "POST"'],
      [s.http, 'any(http.request.headers["user-agent"][*] contains "curl")'],
      [s.net, "net.dst.ip in {10.0.0.0/8} and net.dst.port in {22 3389}"],
      [s.net, 'net.sni.host == "example.com" or net.sni.mismatch'],
    ] as const) {
      const r = scheme.compile(expr);
      assert.ok(r.ok, `${expr}: ${r.ok ? "" : r.error.render()}`);
    }
  });
});

describe("checkBundle", () => {
  test("a good bundle has no problems", () => {
    assert.deepEqual(checkBundle(bundle()), []);
  });

  test("shape errors name the path", () => {
    const problems = checkBundleShape({ ...bundle(), version: -1 });
    assert.ok(problems.some((p) => p.path === "/version"));
  });

  test("an invalid expression carries the rule error and its span", () => {
    const b = bundle();
    b.policies[0]!.expression = 'dns.fqdn == "x" and';
    const [p] = checkBundle(b);
    assert.equal(p?.path, "/policies/0/expression");
    assert.ok(p?.rule);
    assert.equal(typeof p.rule.kind, "string");
  });

  test("unknown lists, wrong list types, duplicate precedence and wrong actions are reported", () => {
    const b = bundle({
      policies: [
        {
          id: "a",
          name: "a",
          type: "dns",
          enabled: true,
          precedence: 1,
          expression: "dns.fqdn in $nope",
          action: "block",
        },
        {
          id: "b",
          name: "b",
          type: "dns",
          enabled: true,
          precedence: 1,
          expression: "dns.src_ip in $ads",
          action: "block",
        },
        {
          id: "c",
          name: "c",
          type: "net",
          enabled: true,
          precedence: 2,
          expression: "net.dst.port == 22",
          action: "override",
        },
      ],
    });
    const messages = checkBundle(b).map((p) => p.message);
    assert.ok(
      messages.some((m) => m.includes("unknown list $nope")),
      messages.join("\n"),
    );
    assert.ok(
      messages.some((m) => m.includes("list $ads holds Bytes")),
      messages.join("\n"),
    );
    assert.ok(
      messages.some((m) => m.includes("precedence 1 is already used")),
      messages.join("\n"),
    );
    assert.ok(
      messages.some((m) => m.includes('action "override" is not valid for a net policy')),
      messages.join("\n"),
    );
  });

  test("allowPrivateDestinations: only on net/http allow policies, only addresses and CIDRs", () => {
    const pol = (id: string, precedence: number, extra: object) => ({
      id,
      name: id,
      type: "net" as const,
      enabled: true,
      precedence,
      expression: 'net.connect.host == "intranet.example"',
      action: "allow" as const,
      ...extra,
    });
    const ok = bundle({
      policies: [
        pol("ok", 1, {
          settings: { allowPrivateDestinations: ["10.20.0.0/16", "::1", "fd00::/8"] },
        }),
      ],
    });
    assert.deepEqual(checkBundle(ok), []);
    const bad = bundle({
      policies: [
        pol("cidr", 1, { settings: { allowPrivateDestinations: ["10.0.0.0/33", "intranet"] } }),
        pol("block", 2, { action: "block", settings: { allowPrivateDestinations: ["10.0.0.1"] } }),
        {
          ...pol("dns", 3, { settings: { allowPrivateDestinations: ["10.0.0.1"] } }),
          type: "dns" as const,
          expression: 'dns.fqdn == "x"',
        },
      ],
    });
    const problems = checkBundle(bad).map((p) => `${p.path} ${p.message}`);
    assert.deepEqual(problems, [
      '/policies/0/settings/allowPrivateDestinations/0 "10.0.0.0/33" is not an IP address or CIDR',
      '/policies/0/settings/allowPrivateDestinations/1 "intranet" is not an IP address or CIDR',
      "/policies/1/settings/allowPrivateDestinations allowPrivateDestinations is only for allow policies of type net or http",
      "/policies/2/settings/allowPrivateDestinations allowPrivateDestinations is only for allow policies of type net or http",
    ]);
  });

  test("client pauses and client settings name IP addresses, once each, a pause never with a location", () => {
    const ok = {
      ...bundle(),
      pauses: [{ client: "10.0.0.1" }, { client: "2001:db8::1", until: 5 }],
      clients: [
        { client: "10.0.0.1", blocking: false },
        { client: "10.0.0.2", safeSearch: true },
      ],
    };
    assert.deepEqual(checkBundle(ok), []);
    const bad = {
      ...bundle(),
      pauses: [{ client: "1:2:3:4:5:6:7:8:9" }, { client: "10.0.0.1", locationId: "x" }],
      clients: [{ client: "10.0.0.1" }, { client: "10.0.0.1" }, { client: "1.2.3" }],
    };
    assert.deepEqual(
      checkBundle(bad).map((p) => `${p.path} ${p.message}`),
      [
        '/pauses/0/client "1:2:3:4:5:6:7:8:9" is not an IP address',
        "/pauses/1 a pause names a location or a client, not both",
        '/clients/1/client duplicate client "10.0.0.1"',
        '/clients/2/client "1.2.3" is not an IP address',
      ],
    );
  });

  test("adblock exception lists are declared with their domain list", () => {
    const b = bundle();
    b.policies[0]!.expression =
      "any(dns.domains[*] in $ads) and not any(dns.domains[*] in $ads.allow)";
    assert.deepEqual(checkBundle(b), []);
  });
});

describe("schedules", () => {
  test("a window past midnight belongs to its starting day; equal ends are 24 hours; 24:00 ends the day", () => {
    const at = (day: keyof typeof DAY_INDEX, hhmm: string) =>
      (DAY_INDEX[day] * 1440 + Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3))) %
      MINUTES_PER_WEEK;
    const week = scheduleWeek({
      timeZone: "UTC",
      windows: [
        { days: ["fri"], start: "22:00", end: "06:00" },
        { days: ["sun"], start: "23:00", end: "01:00" },
        { days: ["tue"], start: "12:00", end: "12:00" },
        { days: ["thu"], start: "18:00", end: "24:00" },
      ],
    });
    const on = (day: keyof typeof DAY_INDEX, hhmm: string) => week[at(day, hhmm)] === 1;
    assert.deepEqual(
      [on("fri", "21:59"), on("fri", "22:00"), on("sat", "05:59"), on("sat", "06:00")],
      [false, true, true, false],
    );
    assert.deepEqual(
      [on("sun", "23:59"), on("mon", "00:59"), on("mon", "01:00")],
      [true, true, false],
    );
    assert.deepEqual(
      [on("tue", "11:59"), on("tue", "12:00"), on("wed", "11:59"), on("wed", "12:00")],
      [false, true, true, false],
    );
    assert.deepEqual([on("thu", "23:59"), on("fri", "00:00")], [true, false]);
    assert.equal(windowLength("22:00", "06:00"), 480);
    assert.deepEqual(
      checkBundle(
        bundle({
          policies: [
            {
              id: "n",
              name: "n",
              type: "dns",
              enabled: true,
              precedence: 1,
              expression: 'dns.fqdn == "x"',
              action: "block",
              schedule: {
                timeZone: "UTC",
                windows: [{ days: ["fri"], start: "22:00", end: "06:00" }],
              },
            },
          ],
        }),
      ),
      [],
    );
  });
});

describe("bundle hash", () => {
  test("canonical JSON sorts keys and the hash ignores the hash field", async () => {
    assert.equal(canonicalJson({ b: 1, a: [{ d: 1, c: 2 }] }), '{"a":[{"c":2,"d":1}],"b":1}');
    const b = bundle();
    b.hash = await bundleHash(b);
    assert.match(b.hash, /^[0-9a-f]{64}$/);
    assert.equal(await verifyBundleHash(b), true);
    b.version = 2;
    assert.equal(await verifyBundleHash(b), false);
  });

  test("canonical JSON is JSON.stringify with keys sorted, also across runs of array items", () => {
    // The definition, written plainly: what canonicalJson's batched and streamed form must equal.
    const plain = (v: unknown): string => {
      if (v === null || typeof v !== "object") return JSON.stringify(v) ?? "null";
      if (Array.isArray(v)) return `[${v.map((x) => plain(x === undefined ? null : x)).join(",")}]`;
      const o = v as Record<string, unknown>;
      const keys = Object.keys(o).filter((k) => o[k] !== undefined);
      return `{${keys
        .sort()
        .map((k) => `${JSON.stringify(k)}:${plain(o[k])}`)
        .join(",")}}`;
    };
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        assert.equal(canonicalJson(v), plain(v));
      }),
      { numRuns: 500 },
    );
    const odd = {
      b: [1, undefined, "x", null, Number.NaN, () => 1],
      a: undefined,
      c: [{ z: 1, y: [true] }],
    };
    assert.equal(canonicalJson(odd), plain(odd));
    // Longer than one run (4,096 items), primitives and objects mixed between runs.
    const long = Array.from({ length: 10_000 }, (_, i) =>
      i % 5000 === 4999 ? { k: i, a: undefined } : i % 3 ? `n${i}` : i,
    );
    assert.equal(canonicalJson(long), plain(long));
    assert.equal(canonicalJson({ l: long.slice(0, 8192) }), plain({ l: long.slice(0, 8192) }));
  });
});

describe("secrets", () => {
  test("hash and verify, wrong secret and malformed hashes fail", async () => {
    const h = await hashSecret("s3cret");
    assert.match(h, /^scrypt\$16384\$8\$1\$/);
    assert.equal(await verifySecret("s3cret", h), true);
    assert.equal(await verifySecret("s3creT", h), false);
    assert.equal(await verifySecret("s3cret", "scrypt$1$1$1$x$y"), false);
    assert.equal(await verifySecret("s3cret", "plain"), false);
  });
});

describe("errors", () => {
  test("every code maps to a status and GatehouseError renders the API body", () => {
    for (const info of Object.values(ERROR_CODES))
      assert.ok(info.status >= 400 && info.status < 600);
    const e = new GatehouseError("GH_ERR_NOT_FOUND", "no such policy", { id: "x" });
    assert.equal(e.status, 404);
    assert.deepEqual(e.toBody(), {
      error: { code: "GH_ERR_NOT_FOUND", message: "no such policy", details: { id: "x" } },
    });
  });
});
