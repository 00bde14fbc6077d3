// GET /config/check's warnings: policies an earlier one always beats (contract shadowedPolicies).

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type Policy, shadowedPolicies } from "@gatehouse/contract";

function p(
  id: string,
  type: Policy["type"],
  precedence: number,
  expression: string,
  action: Policy["action"],
  extra: Partial<Policy> = {},
): Policy {
  return { id, name: id, type, enabled: true, precedence, expression, action, ...extra };
}
const shadowed = (policies: Policy[]) =>
  shadowedPolicies({ policies }).map((w) => `${w.policyId}<${w.shadowedBy}`);

describe("shadowed policies", () => {
  test("the old safe-search example: an A/AAAA catch-all hides response-phase policies, whatever their precedence", () => {
    const policies = [
      p("ads", "dns", 20, "any(dns.domains[*] in $ads)", "block"),
      p(
        "safesearch",
        "dns",
        50,
        'dns.query_rtype == "A" or dns.query_rtype == "AAAA"',
        "safesearch",
      ),
      p("bad-answers", "dns", 60, "any(dns.resolved_ips[*] in $bad_nets)", "block"),
      // Lower precedence, but response phase: it still runs after every query-phase policy.
      p("early-answers", "dns", 5, "any(dns.resolved_ips[*] in {10.0.0.0/8})", "block"),
      // Not shadowed: MX queries pass the catch-all, CNAMEs come with any query type.
      p("mx", "dns", 70, 'dns.query_rtype == "MX"', "block"),
      p("cname", "dns", 80, 'any(dns.response.cname[*] == "tracker.example")', "block"),
    ];
    const warnings = shadowedPolicies({ policies });
    assert.deepEqual(warnings.map((w) => `${w.policyId}<${w.shadowedBy}`).sort(), [
      "bad-answers<safesearch",
      "early-answers<safesearch",
    ]);
    const w = warnings.find((x) => x.policyId === "bad-answers")!;
    assert.equal(w.path, "/policies/2");
    assert.match(w.message, /"bad-answers" .*response phase.* can never match: "safesearch"/);
  });

  test("the fixed example (search engines only) shadows nothing", () => {
    const safesearch =
      'dns.fqdn matches "^(www[.])?google[.][a-z]{2,3}([.][a-z]{2})?$" or any(dns.domains[*] in {"bing.com" "duckduckgo.com"})';
    assert.deepEqual(
      shadowed([
        p("safesearch", "dns", 50, safesearch, "safesearch"),
        p("bad-answers", "dns", 60, "any(dns.resolved_ips[*] in $bad_nets)", "block"),
      ]),
      [],
    );
  });

  test("identical expressions, tautologies, and the order rules of each type", () => {
    assert.deepEqual(
      shadowed([
        p("a", "dns", 1, "any(dns.domains[*] in $ads)", "allow"),
        p("b", "dns", 2, "any( dns.domains[*] in $ads )", "block"),
      ]),
      ["b<a"],
    );
    // HTTP do_not_inspect runs before other HTTP policies whatever the precedence.
    assert.deepEqual(
      shadowed([
        p("h-block", "http", 1, 'http.conn.hostname == "x.example"', "block"),
        p("h-dni", "http", 9, 'http.conn.hostname == "x.example"', "do_not_inspect"),
      ]),
      ["h-block<h-dni"],
    );
    // A network block of everything leaves HTTP policies nothing; a network allow does not.
    assert.deepEqual(
      shadowed([
        p("n-all", "net", 1, "net.dst.port == 22 or not net.dst.port == 22", "block"),
        p("n-ssh", "net", 2, "net.dst.port == 443", "allow"),
        p("h", "http", 1, 'http.request.method == "GET"', "block"),
      ]).sort(),
      ["h<n-all", "n-ssh<n-all"],
    );
    assert.deepEqual(
      shadowed([
        p("n-all", "net", 1, "net.dst.port == 22 or not net.dst.port == 22", "allow"),
        p("h", "http", 1, 'http.request.method == "GET"', "block"),
      ]),
      [],
    );
  });

  test("a scheduled or disabled earlier policy shadows nothing; different types never shadow", () => {
    const schedule = {
      timeZone: "UTC",
      windows: [{ days: ["mon" as const], start: "09:00", end: "17:00" }],
    };
    assert.deepEqual(
      shadowed([
        p("a", "dns", 1, "any(dns.domains[*] in $ads)", "block", { schedule }),
        p("b", "dns", 2, "any(dns.domains[*] in $ads)", "block"),
        p("c", "dns", 3, 'dns.fqdn == "x"', "block", { enabled: false }),
        p("d", "dns", 4, 'dns.fqdn == "x"', "block"),
        p("e", "net", 5, "net.dst.port == 22", "block"),
        p("f", "http", 5, "http.conn.dst_port == 22", "block"),
      ]),
      [],
    );
  });
});
