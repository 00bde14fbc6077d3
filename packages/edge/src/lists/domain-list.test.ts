import assert from "node:assert/strict";
import { test } from "node:test";
import { type DomainListFormat, parseDomainList } from "./domain-list-parser.ts";
import { DomainSetBuilder } from "./domain-set.ts";

function parse(text: string, format: DomainListFormat = "auto") {
  const block = new DomainSetBuilder();
  const allow = new DomainSetBuilder();
  const stats = parseDomainList(Buffer.from(text, "latin1"), format, block, allow);
  return { block: block.build(), allow: allow.build(), stats };
}

test("formats: hosts, plain, adblock, comments, auto-detect per line", () => {
  const cases: {
    name: string;
    text: string;
    format?: DomainListFormat;
    block: string[];
    allow?: string[];
    not?: string[];
    rejected?: number;
  }[] = [
    {
      name: "hosts",
      text: "0.0.0.0 ads.example.com tracker.example\n127.0.0.1 localhost\n::1 ip6-localhost\n",
      format: "hosts",
      block: ["ads.example.com", "tracker.example"],
      not: ["localhost", "ip6-localhost"],
    },
    {
      name: "hosts inline comment",
      text: "0.0.0.0 a.example # comment here\n",
      block: ["a.example"],
      not: ["comment", "here"],
    },
    {
      name: "plain with CRLF and case",
      text: "Ads.Example.COM\r\nx.example.\r\n",
      format: "plain",
      block: ["ads.example.com", "x.example"],
    },
    {
      name: "comments",
      text: "# hash\n! bang\n   \n[Adblock Plus 2.0]\nok.example\n",
      block: ["ok.example"],
      rejected: 0,
    },
    {
      name: "adblock",
      text: "||ads.example^\n@@||good.example^\n||imp.example^$important\n||third.example^$third-party\n/regex/\nexample.com##.banner\n",
      format: "adblock",
      block: ["ads.example", "imp.example"],
      allow: ["good.example"],
      not: ["third.example"],
      rejected: 3,
    },
    {
      name: "auto mix",
      text: "||a.example^\n0.0.0.0 b.example\nc.example\n@@||d.example^\n",
      block: ["a.example", "b.example", "c.example"],
      allow: ["d.example"],
    },
    {
      name: "invalid names rejected",
      text: "bad..example\n-ok_.example\n" + "x".repeat(64) + ".example\nwith space here\n",
      format: "plain",
      block: ["-ok_.example"],
      rejected: 3,
    },
    { name: "BOM", text: "\xef\xbb\xbfbom.example\n", block: ["bom.example"] },
  ];
  for (const c of cases) {
    const r = parse(c.text, c.format);
    for (const d of c.block) assert.ok(r.block.has(d), `${c.name}: ${d} listed`);
    for (const d of c.allow ?? []) assert.ok(r.allow.has(d), `${c.name}: ${d} in allow`);
    for (const d of c.not ?? []) assert.ok(!r.block.has(d), `${c.name}: ${d} not listed`);
    assert.equal(r.block.size, c.block.length, `${c.name}: size`);
    if (c.rejected !== undefined) assert.equal(r.stats.rejected, c.rejected, `${c.name}: rejected`);
  }
});

test("domain set: duplicates collapse, exact match only, parents via hasOrParent", () => {
  const b = new DomainSetBuilder();
  for (let i = 0; i < 5000; i++) b.addString(`host${i % 2500}.example`);
  const s = b.build();
  assert.equal(s.size, 2500);
  assert.ok(s.has("host42.example"));
  assert.ok(!s.has("host42.example.com"));
  assert.ok(!s.has("example"));
  assert.ok(!s.has(""));
  assert.ok(s.hasOrParent("a.b.host7.example"));
  assert.ok(!s.hasOrParent("a.b.host7.examples"));
});
