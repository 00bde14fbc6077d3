// The policy builder's round trip (src/expression/builder.ts) against the gateway schemes and
// the rules engine's own parser: rows write expressions that compile, hand-written expressions
// of rows and one level of groups read back into rows that write an equivalent expression, and
// anything else is refused with a reason (the editor then stays on text).

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SCHEMES } from "@gatehouse/contract/schemes";
import { Scheme } from "@gatehouse/rules";
import {
  builderFields,
  expressionFromRows,
  operatorsFor,
  type Row,
  rowForField,
  rowsFromExpression,
} from "../src/expression/builder.ts";

const dns = new Scheme(SCHEMES.dns);
const http = new Scheme(SCHEMES.http);
const net = new Scheme(SCHEMES.net);

/**
 * Read `text` into rows, write them back; the result must parse to the same canonical form as
 * `same` (the text itself unless the rows drop parentheses it had).
 */
function roundTrip(scheme: Scheme, text: string, same = text): string {
  const r = rowsFromExpression(scheme, text);
  assert.ok(r.ok, `${text}: ${r.ok ? "" : r.reason}`);
  const out = expressionFromRows(scheme, r.value);
  const a = scheme.format(same);
  const b = scheme.format(out);
  assert.ok(a.ok && b.ok, `${out} should parse`);
  assert.equal(b.value, a.value, `${text} -> ${out}`);
  return out;
}

describe("policy builder", () => {
  it("offers the scheme's fields with operators that suit their type", () => {
    const fields = builderFields(dns);
    const names = fields.map((f) => f.name);
    assert.ok(names.includes("dns.fqdn") && names.includes("dns.domains"));
    assert.ok(names.includes("dns.src_ip") && names.includes("dns.content_category"));
    // A map needs a key: text only.
    assert.ok(!builderFields(http).some((f) => f.name === "http.request.headers"));
    const byName = (s: Scheme, n: string) => {
      const f = builderFields(s).find((x) => x.name === n);
      assert.ok(f, n);
      return operatorsFor(f).map((o) => o.id);
    };
    assert.equal(
      byName(dns, "dns.src_port").join(" "),
      "eq ne lt le gt ge in not_in in_list not_in_list",
    );
    assert.ok(byName(dns, "dns.fqdn").includes("matches"));
    assert.ok(!byName(dns, "dns.src_ip").includes("contains"));
    assert.deepEqual(byName(net, "net.sni.mismatch"), ["is_true", "is_false"]);
    const domains = builderFields(dns).find((f) => f.name === "dns.domains");
    assert.ok(domains?.array);
    const labels = operatorsFor(domains).map((o) => o.label);
    assert.ok(labels.includes("any is in list") && labels.includes("none is in list"));
    assert.ok(!operatorsFor(domains).some((o) => o.id === "lt"));
  });

  it("writes rows as an expression the engine compiles", () => {
    const rows: Row[] = [
      { field: "dns.fqdn", op: "eq", value: 'a "quoted" é.example' },
      { field: "dns.domains", op: "in_list", value: "ads" },
      { field: "dns.domains", op: "not_in_list", value: "$allowed" },
      { field: "dns.src_ip", op: "in", value: "10.0.0.0/8  192.168.1.5" },
      { field: "dns.src_port", op: "ge", value: "1024" },
      { field: "dns.query_rtype", op: "not_in", value: "A AAAA" },
      { field: "dns.fqdn", op: "matches", value: '[.]ex"ample$' },
      { field: "dns.fqdn", op: "not_contains", value: "cdn" },
      { field: "dns.content_category", op: "in", value: "2 5..7" },
    ];
    const text = expressionFromRows(dns, { join: "and", rows });
    assert.equal(
      text,
      [
        'dns.fqdn == "a \\"quoted\\" é.example"',
        "any(dns.domains[*] in $ads)",
        "not any(dns.domains[*] in $allowed)",
        "dns.src_ip in { 10.0.0.0/8 192.168.1.5 }",
        "dns.src_port >= 1024",
        'not dns.query_rtype in { "A" "AAAA" }',
        'dns.fqdn matches r#"[.]ex"ample$"#',
        'not dns.fqdn contains "cdn"',
        "any(dns.content_category[*] in { 2 5..7 })",
      ].join(" and "),
    );
    assert.ok(dns.compile(text).ok);
    // Read back: the same rows (the list's `$` dropped, the set's spacing normalised).
    const back = rowsFromExpression(dns, text);
    assert.ok(back.ok);
    assert.deepEqual(back.value.rows[1], { field: "dns.domains", op: "in_list", value: "ads" });
    assert.deepEqual(back.value.rows[2], {
      field: "dns.domains",
      op: "not_in_list",
      value: "allowed",
    });
    assert.deepEqual((back.value.rows[3] as Row | undefined)?.value, "10.0.0.0/8 192.168.1.5");
    assert.deepEqual((back.value.rows[0] as Row | undefined)?.value, 'a "quoted" é.example');
    assert.deepEqual((back.value.rows[6] as Row | undefined)?.value, '[.]ex"ample$');
    assert.equal(expressionFromRows(dns, back.value), text);
  });

  it("leaves incomplete rows out and joins with or", () => {
    const text = expressionFromRows(dns, {
      join: "or",
      rows: [
        { field: "dns.fqdn", op: "eq", value: "a.example" },
        { field: "dns.fqdn", op: "eq", value: "  " },
        { field: "", op: "eq", value: "x" },
        { field: "dns.fqdn", op: "wildcard", value: "*.b.example" },
      ],
    });
    assert.equal(text, 'dns.fqdn == "a.example" or dns.fqdn wildcard "*.b.example"');
    assert.equal(expressionFromRows(dns, { join: "and", rows: [] }), "");
  });

  it("reads hand-written flat expressions back into rows", () => {
    roundTrip(dns, "any(dns.domains[*] in $my_list)");
    roundTrip(dns, 'dns.fqdn eq "x.example" || dns.fqdn contains "tracker"');
    roundTrip(
      dns,
      "(dns.src_ip in {192.168.0.0/16}) && dns.src_port > 1000",
      "dns.src_ip in {192.168.0.0/16} and dns.src_port > 1000",
    );
    roundTrip(http, 'http.request.uri.path matches "[.](exe|msi)$"');
    roundTrip(http, 'http.request.host == "a.example"');
    roundTrip(net, "net.dst.port in {22 3389}");
    roundTrip(net, "net.sni.mismatch and not net.dst.port in $ports");
    roundTrip(net, "not net.sni.mismatch");
    roundTrip(dns, 'not any(dns.domains[*] == "ok.example")');
    roundTrip(dns, 'not (dns.fqdn contains "x")', 'not dns.fqdn contains "x"');
    roundTrip(dns, 'any(identity.groups[*].name == "staff")');
    const r = rowsFromExpression(dns, 'dns.fqdn != "a"');
    assert.ok(r.ok);
    assert.deepEqual(r.value.rows, [{ field: "dns.fqdn", op: "ne", value: "a" }]);
    assert.deepEqual(rowsFromExpression(dns, "  "), { ok: true, value: { join: "and", rows: [] } });
  });

  it("groups: mixed and/or with one level of parentheses reads into groups and writes back", () => {
    // `and` binds tighter than `or`: the rows show the grouping the engine applies.
    const mixed = 'dns.fqdn == "a.example" and dns.src_port > 1 or dns.fqdn == "b.example"';
    const r = rowsFromExpression(dns, mixed);
    assert.ok(r.ok, r.ok ? "" : r.reason);
    assert.deepEqual(r.value, {
      join: "or",
      rows: [
        {
          join: "and",
          rows: [
            { field: "dns.fqdn", op: "eq", value: "a.example" },
            { field: "dns.src_port", op: "gt", value: "1" },
          ],
        },
        { field: "dns.fqdn", op: "eq", value: "b.example" },
      ],
    });
    // Written back with the parentheses the engine's precedence implies: the same rows again.
    const written = '(dns.fqdn == "a.example" and dns.src_port > 1) or dns.fqdn == "b.example"';
    assert.equal(roundTrip(dns, mixed, written), written);
    assert.deepEqual(rowsFromExpression(dns, written), r);
    roundTrip(dns, 'dns.fqdn == "a" and (any(dns.domains[*] in $ads) or dns.src_port in {53 853})');
    roundTrip(
      dns,
      '(dns.fqdn == "a" or dns.fqdn == "b") and (dns.src_port > 1 or not dns.fqdn contains "x")',
    );
    roundTrip(net, "(net.sni.mismatch or net.dst.port == 22) and net.dst.port != 23");
    // Same join inside and out: the group is kept as written.
    const same = rowsFromExpression(
      dns,
      'dns.fqdn == "a" and (dns.fqdn == "b" and dns.src_port == 1)',
    );
    assert.ok(same.ok);
    assert.equal(same.value.rows.length, 2);
    // Written out: a group of one complete row needs no parentheses; an empty group is left out.
    assert.equal(
      expressionFromRows(dns, {
        join: "and",
        rows: [
          { field: "dns.fqdn", op: "eq", value: "a" },
          {
            join: "or",
            rows: [
              { field: "dns.src_port", op: "eq", value: "1" },
              { field: "", op: "eq", value: "" },
            ],
          },
          { join: "or", rows: [{ field: "", op: "eq", value: "" }] },
          {
            join: "or",
            rows: [
              { field: "dns.src_port", op: "eq", value: "2" },
              { field: "dns.src_port", op: "eq", value: "3" },
            ],
          },
        ],
      }),
      'dns.fqdn == "a" and dns.src_port == 1 and (dns.src_port == 2 or dns.src_port == 3)',
    );
  });

  it("refuses what the rows cannot say, with the reason", () => {
    const refused = (s: Scheme, text: string, why: RegExp) => {
      const r = rowsFromExpression(s, text);
      assert.equal(r.ok, false, text);
      if (!r.ok) assert.match(r.reason, why, text);
    };
    refused(
      dns,
      '(dns.fqdn == "a" and (dns.fqdn == "b" or dns.src_port == 1)) or dns.src_port == 2',
      /inside a group/,
    );
    refused(dns, 'dns.fqdn == "a" or (dns.fqdn == "b" xor dns.src_port == 1)', /xor/);
    refused(dns, 'dns.fqdn == "a" or (lower(dns.fqdn) == "b" and dns.src_port == 1)', /more than/);
    refused(dns, 'dns.fqdn == "a" xor dns.fqdn == "b"', /xor/);
    refused(dns, 'lower(dns.fqdn) == "a"', /more than/);
    refused(dns, 'any(dns.domains[*] != "a")', /more than/);
    refused(dns, 'dns.domains[0] == "a"', /more than/);
    refused(dns, 'not dns.fqdn == "a"', /more than/);
    refused(dns, "dns.src_port & 1", /more than/);
    refused(http, 'any(http.request.headers["x"][*] == "a")', /more than/);
    refused(dns, 'dns.fqdn in {"a b"}', /more than/);
    refused(dns, "dns.fqdn ==", /does not parse/);
  });

  it("keeps the operator and value when the field changes to one that takes them", () => {
    const row: Row = { field: "dns.fqdn", op: "in_list", value: "ads" };
    assert.deepEqual(rowForField(dns, row, "dns.domains"), {
      field: "dns.domains",
      op: "in_list",
      value: "ads",
    });
    assert.deepEqual(rowForField(dns, { ...row, op: "contains" }, "dns.src_port"), {
      field: "dns.src_port",
      op: "eq",
      value: "ads",
    });
    assert.deepEqual(rowForField(net, row, "net.sni.mismatch"), {
      field: "net.sni.mismatch",
      op: "is_true",
      value: "",
    });
  });
});
