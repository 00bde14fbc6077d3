// Policy tests evaluated against a draft configuration: DNS and HTTP cases, the deciding
// policy, the edge's order (network before HTTP, do_not_inspect first, query phase before
// response phase), schedules, locations by name and by source address, and cases that cannot
// run (an unknown location or user, a malformed request) failing with the reason.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Policy, PolicyTestCase } from "@gatehouse/contract";
import { parseRequest, runPolicyTests, type TestedConfig } from "../src/bundle/policy-tests.ts";

const policy = (p: Partial<Policy> & Pick<Policy, "id" | "type" | "expression" | "action">) =>
  ({ name: p.id, enabled: true, precedence: 0, ...p }) as Policy;

const config: TestedConfig = {
  lists: [
    {
      id: "l1",
      name: "ads",
      type: "domain",
      items: ["ads.example.com", "@@||ok.ads.example.com^"],
    },
    { id: "l2", name: "staffnets", type: "ip", items: ["10.1.0.0/16"] },
  ],
  locations: [
    { id: "loc-office", name: "Office", networks: ["10.1.0.0/16"] },
    { id: "loc-lab", name: "Lab", networks: ["10.1.2.0/24"] },
  ],
  identities: {
    users: [{ id: "u1", email: "ann@corp.example", name: "Ann", groups: ["Staff"] }],
    devices: [],
  },
  policies: [
    policy({
      id: "p-ads",
      name: "Block ads",
      type: "dns",
      precedence: 10,
      expression: "any(dns.domains[*] in $ads) and not any(dns.domains[*] in $ads.allow)",
      action: "block",
    }),
    policy({
      id: "p-lab",
      name: "Lab sees all",
      type: "dns",
      precedence: 5,
      expression: 'dns.location_name == "Lab"',
      action: "allow",
    }),
    policy({
      id: "p-night",
      name: "Games at night",
      type: "dns",
      precedence: 20,
      expression: 'dns.fqdn == "games.example"',
      action: "block",
      schedule: {
        timeZone: "UTC",
        windows: [
          { days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], start: "20:00", end: "24:00" },
        ],
      },
    }),
    policy({
      id: "p-bad-ip",
      name: "Sinkhole answers",
      type: "dns",
      precedence: 1,
      expression: "any(dns.resolved_ips[*] in {192.0.2.66})",
      action: "block",
    }),
    policy({
      id: "p-ssh",
      name: "No SSH",
      type: "net",
      precedence: 1,
      expression: "net.dst.port == 22",
      action: "block",
    }),
    policy({
      id: "p-intranet-staff",
      name: "Staff reach the intranet",
      type: "http",
      precedence: 1,
      expression: 'http.conn.hostname == "intranet" and any(identity.groups.name[*] == "Staff")',
      action: "allow",
    }),
    policy({
      id: "p-intranet",
      name: "Intranet closed",
      type: "http",
      precedence: 2,
      expression: 'http.conn.hostname == "intranet"',
      action: "block",
    }),
    policy({
      id: "p-bank",
      name: "Do not inspect the bank",
      type: "http",
      precedence: 50,
      expression: 'http.conn.hostname == "intranet" and http.request.uri.path == "/bank"',
      action: "do_not_inspect",
    }),
  ],
};

const run = (tests: PolicyTestCase[], now = Date.parse("2026-12-07T12:00:00Z")) =>
  runPolicyTests(config, tests, { now });

describe("policy tests", () => {
  it("a DNS case passes when the expected policy decides, from a location by name or address", () => {
    const r = run([
      {
        name: "ads from the office are blocked",
        dns: { query: "ads.example.com", location: "Office" },
        expect: { action: "block", policy: "Block ads" },
      },
      {
        name: "a subdomain too, by policy id",
        dns: { query: "x.ADS.example.com.", sourceIp: "10.1.9.9" },
        expect: { action: "block", policy: "p-ads" },
      },
      {
        name: "an exception is allowed by no policy",
        dns: { query: "ok.ads.example.com" },
        expect: { action: "allow", policy: null },
      },
      {
        name: "the lab (the more specific network) sees ads",
        dns: { query: "ads.example.com", sourceIp: "10.1.2.3" },
        expect: { action: "allow", policy: "Lab sees all" },
      },
    ]);
    assert.deepEqual(
      r.results.map((x) => [x.passed, x.message]),
      [
        [true, undefined],
        [true, undefined],
        [true, undefined],
        [true, undefined],
      ],
    );
    assert.equal(r.passed, 4);
    assert.equal(r.failed, 0);
    assert.deepEqual(r.results[0]!.actual, {
      action: "block",
      policyId: "p-ads",
      policyName: "Block ads",
    });
    assert.equal(r.results[2]!.path, "/tests/2");
  });

  it("a failing case says what was expected and what decided", () => {
    const r = run([
      {
        name: "ads are allowed (wrong)",
        dns: { query: "ads.example.com", location: "Office" },
        expect: { action: "allow" },
      },
      {
        name: "blocked by the wrong policy",
        dns: { query: "ads.example.com" },
        expect: { action: "block", policy: "Games at night" },
      },
    ]);
    assert.equal(r.failed, 2);
    assert.equal(r.results[0]!.message, 'expected allow, got block by policy "Block ads"');
    assert.equal(
      r.results[1]!.message,
      'expected block by policy "Games at night", got block by policy "Block ads"',
    );
  });

  it("schedules are judged at the case's time; response-phase policies only with an answer", () => {
    const r = run([
      {
        name: "games at noon",
        dns: { query: "games.example" },
        expect: { action: "allow", policy: null },
      },
      {
        name: "games at night",
        dns: { query: "games.example" },
        at: "2026-12-07T21:30:00Z",
        expect: { action: "block", policy: "Games at night" },
      },
      {
        name: "a sinkholed answer is blocked",
        dns: { query: "shop.example", answer: { ips: ["192.0.2.66"] } },
        expect: { action: "block", policy: "Sinkhole answers" },
      },
      {
        name: "no answer given: only the query phase runs",
        dns: { query: "shop.example" },
        expect: { action: "allow", policy: null },
      },
    ]);
    assert.deepEqual(
      r.results.map((x) => x.message ?? "ok"),
      ["ok", "ok", "ok", "ok"],
    );
  });

  it("HTTP cases: network policies first, identity from the user, do_not_inspect before the rest", () => {
    const r = run([
      {
        name: "staff reach the intranet",
        http: { request: "GET http://intranet/", user: "Ann@corp.example" },
        expect: { action: "allow", policy: "Staff reach the intranet" },
      },
      {
        name: "others do not",
        http: { request: "GET http://intranet/" },
        expect: { action: "block", policy: "Intranet closed" },
      },
      {
        name: "a group given directly",
        http: { request: "http://intranet/x", groups: ["Staff"] },
        expect: { action: "allow", policy: "Staff reach the intranet" },
      },
      {
        name: "do_not_inspect runs first whatever its precedence",
        http: { request: "GET http://intranet/bank", user: "ann@corp.example" },
        expect: { action: "do_not_inspect", policy: "Do not inspect the bank" },
      },
      {
        name: "SSH through CONNECT is blocked by the network policy",
        http: { request: "CONNECT git.example:22" },
        expect: { action: "block", policy: "No SSH" },
      },
      {
        name: "HTTPS without inspection: HTTP policies do not see the request",
        http: { request: "GET https://intranet/" },
        expect: { action: "allow", policy: null },
      },
    ]);
    assert.deepEqual(
      r.results.map((x) => x.message ?? "ok"),
      ["ok", "ok", "ok", "ok", "ok", "ok"],
    );
  });

  it("a case that cannot run fails with the reason and the others still run", () => {
    const r = run([
      {
        name: "no location",
        dns: { query: "a.example", location: "Mars" },
        expect: { action: "allow" },
      },
      {
        name: "no user",
        http: { request: "GET http://a/", user: "bob@x.example" },
        expect: { action: "allow" },
      },
      {
        name: "bad request",
        http: { request: "FETCH the thing now" },
        expect: { action: "allow" },
      },
      {
        name: "both",
        dns: { query: "a.example" },
        http: { request: "GET http://a/" },
        expect: { action: "allow" },
      },
      {
        name: "bad ip",
        dns: { query: "a.example", sourceIp: "10.1" },
        expect: { action: "allow" },
      },
      {
        name: "bad time",
        dns: { query: "a.example" },
        at: "yesterday-ish",
        expect: { action: "allow" },
      },
      { name: "fine", dns: { query: "a.example" }, expect: { action: "allow" } },
    ]);
    assert.deepEqual(
      r.results.map((x) => [x.passed, x.actual.action, x.message]),
      [
        [false, "error", 'no location named "Mars" in the configuration'],
        [false, "error", 'no user with email "bob@x.example" in the configuration'],
        [
          false,
          "error",
          'http.request "FETCH the thing now" is not "METHOD URL" or "CONNECT host:port"',
        ],
        [false, "error", "a case has exactly one of dns or http"],
        [false, "error", 'dns.sourceIp "10.1" is not an IP address'],
        [false, "error", 'at "yesterday-ish" is not an ISO 8601 time'],
        [true, "allow", undefined],
      ],
    );
  });

  it("parses requests as the proxy sees them", () => {
    assert.deepEqual(parseRequest("get http://Intranet:8080/a/b?c=1"), {
      method: "GET",
      scheme: "http",
      host: "intranet",
      port: 8080,
      authority: "intranet:8080",
      uri: "http://intranet:8080/a/b?c=1",
      path: "/a/b",
      query: "c=1",
    });
    assert.equal(parseRequest("CONNECT [2001:db8::1]:443").host, "2001:db8::1");
    assert.throws(() => parseRequest("CONNECT host"), /CONNECT needs host:port/);
    assert.throws(() => parseRequest("GET ftp://x/"), /must be http/);
  });
});
