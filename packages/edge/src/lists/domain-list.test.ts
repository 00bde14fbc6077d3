import assert from "node:assert/strict";
import { test } from "node:test";
import { type DomainListFormat, domainsOf } from "@gatehouse/contract";
import { DomainSetBuilder } from "./domain-set.ts";
import { buildListSet } from "./list-set.ts";

function build(text: string, format: DomainListFormat = "auto") {
  const set = buildListSet([
    { id: "l1", name: "l", type: "domain", items: text.split("\n"), format },
  ]);
  const list = set.domains("l")!;
  const stats = set.stats[0]!;
  /** `any(dns.domains[*] in $l)` for a query of `qtype` from `client`. */
  const blocks = (name: string, qtype = "A", client = "192.0.2.10") => {
    set.query.begin(qtype === "AAAA" ? 28 : 1, qtype, client);
    try {
      return list.hasAny(domainsOf(name));
    } finally {
      set.query.end();
    }
  };
  return { set, list, stats, blocks };
}

// Each rule form: the list text, then names the list must block and names it must not.
const FORMS: {
  form: string;
  text: string;
  format?: DomainListFormat;
  yes: string[];
  no: string[];
}[] = [
  {
    form: "plain name",
    text: "ads.example",
    yes: ["ads.example", "x.ads.example"],
    no: ["example", "bads.example"],
  },
  {
    form: "||name^",
    text: "||ads.example^",
    yes: ["ads.example", "a.b.ads.example"],
    no: ["xads.example"],
  },
  { form: "|name^ (exact)", text: "|ads.example^", yes: ["ads.example"], no: ["x.ads.example"] },
  {
    form: "adblock bare name (exact)",
    text: "ads.example",
    format: "adblock",
    yes: ["ads.example"],
    no: ["x.ads.example"],
  },
  {
    form: "||ad*.name^",
    text: "||ad*.example.org^",
    yes: ["ad.example.org", "ad1.example.org", "x.ads.example.org"],
    no: ["bad.example.org", "example.org", "ad.example.org.evil"],
  },
  {
    form: "||*.name^",
    text: "||*.example.org^",
    yes: ["a.example.org", "a.b.example.org"],
    no: ["example.org", "example.org.x"],
  },
  { form: "plain *.name", text: "*.example.org", yes: ["www.example.org"], no: ["example.org"] },
  {
    form: "unanchored wildcard",
    text: "*track*",
    format: "adblock",
    yes: ["mytracker.example", "track.x"],
    no: ["tra.ck"],
  },
  {
    form: ".name (subdomains)",
    text: ".example.org",
    yes: ["www.example.org"],
    no: ["example.org"],
  },
  {
    form: "/regex/",
    text: "/^ad[0-9]+\\./",
    yes: ["ad12.example"],
    no: ["adx.example", "x.ad1.example"],
  },
  {
    form: "regex with $ inside /…/",
    text: "/example\\.(com|net)$/",
    yes: ["a.example.com"],
    no: ["example.org"],
  },
  {
    form: "Pi-hole regex line",
    text: "(^|\\.)doubleclick\\.net$",
    yes: ["doubleclick.net", "ad.doubleclick.net"],
    no: ["notdoubleclick.net"],
  },
  {
    form: "regex format",
    text: "^tel(emetry)?\\.",
    format: "regex",
    yes: ["telemetry.x", "tel.y"],
    no: ["hotel.x"],
  },
  {
    form: "hosts several names + comment",
    text: "0.0.0.0 a.example b.example # c.example",
    yes: ["a.example", "b.example", "x.b.example"],
    no: ["c.example"],
  },
  { form: "hosts IPv6", text: "::1 v6.example", yes: ["v6.example"], no: ["example"] },
  {
    form: "dnsmasq address",
    text: "address=/dm.example/0.0.0.0",
    yes: ["dm.example", "x.dm.example"],
    no: ["example"],
  },
  { form: "dnsmasq address #", text: "address=/dm2.example/#", yes: ["dm2.example"], no: [] },
  { form: "dnsmasq server empty", text: "server=/srv.example/", yes: ["x.srv.example"], no: [] },
  {
    form: "dnsmasq local, two names",
    text: "local=/l1.example/l2.example/",
    yes: ["l1.example", "l2.example"],
    no: [],
  },
  {
    form: "exception wins",
    text: "||example.org^\n@@||good.example.org^",
    yes: ["example.org", "bad.example.org"],
    no: ["good.example.org", "x.good.example.org"],
  },
  {
    form: "wildcard exception",
    text: "||example.org^\n@@||cdn*.example.org^",
    yes: ["www.example.org"],
    no: ["cdn1.example.org"],
  },
  {
    form: "regex exception",
    text: "||example.org^\n@@/^safe/",
    yes: ["x.example.org"],
    no: ["safe.example.org"],
  },
  {
    form: "$important beats exception",
    text: "||example.org^$important\n@@||example.org^",
    yes: ["example.org"],
    no: [],
  },
  {
    form: "important exception beats important",
    text: "||example.org^$important\n@@||example.org^$important",
    yes: [],
    no: ["example.org"],
  },
  {
    form: "$badfilter disables a rule",
    text: "||bf.example^\n||bf.example^$badfilter\n||kept.example^",
    yes: ["kept.example"],
    no: ["bf.example"],
  },
  {
    form: "$badfilter on a wildcard",
    text: "||ad*.x.example^\n||ad*.x.example^$badfilter",
    yes: [],
    no: ["ad1.x.example"],
  },
  {
    form: "$badfilter on an exact rule",
    text: "|bf.example^\n|bf2.example^\n|bf.example^$badfilter",
    yes: ["bf2.example"],
    no: ["bf.example", "x.bf2.example"],
  },
  {
    form: "$badfilter on an important rule",
    text: "||imp.example^$important\n||imp2.example^$important\n||imp.example^$important,badfilter",
    yes: ["imp2.example", "x.imp2.example"],
    no: ["imp.example"],
  },
  {
    form: "||*.name^ limited by $dnstype",
    text: "||*.t.example^$dnstype=A\n||*.u.example^$dnstype=AAAA",
    yes: ["x.t.example", "a.b.t.example"],
    no: ["t.example", "x.u.example"],
  },
  {
    form: "wildcards with a fixed tail: several under one tail, across labels, with modifiers",
    text: "||ad*.t.example^\n||trk*.t.example^\n||a*b.u.example^\n||px*.v.example^$dnstype=AAAA",
    yes: ["ad1.t.example", "x.trk2.t.example", "a.q.b.u.example", "ab.u.example"],
    no: ["t.example", "ad1.x.example", "bad.t.example", "a.u.example", "px1.v.example"],
  },
  {
    form: "exact exception",
    text: "||example.org^\n@@|example.org^",
    yes: ["www.example.org"],
    no: ["example.org"],
  },
  { form: "$dnstype", text: "||v6only.example^$dnstype=AAAA", yes: [], no: ["v6only.example"] },
  { form: "$dnstype negated", text: "||nota.example^$dnstype=~A", yes: [], no: ["nota.example"] },
  { form: "$client", text: "||kid.example^$client=192.0.2.0/24", yes: ["kid.example"], no: [] },
  {
    form: "$client other",
    text: "||kid2.example^$client=198.51.100.7",
    yes: [],
    no: ["kid2.example"],
  },
  {
    form: "$client excluded",
    text: "||kid3.example^$client=~192.0.2.10",
    yes: [],
    no: ["kid3.example"],
  },
  {
    form: "$denyallow",
    text: "||example.com^$denyallow=ok.example.com",
    yes: ["example.com", "x.example.com"],
    no: ["ok.example.com", "a.ok.example.com"],
  },
  {
    form: "*$denyallow",
    text: "*$denyallow=com|net",
    yes: ["example.org"],
    no: ["example.com", "a.net"],
  },
  {
    form: "$dnsrewrite blocks (answer rewritten)",
    text: "||rw.example^$dnsrewrite=10.0.0.1",
    yes: ["rw.example"],
    no: [],
  },
  { form: "$third-party skipped", text: "||tp.example^$third-party", yes: [], no: ["tp.example"] },
  { form: "path rule skipped", text: "||path.example/ads/*", yes: [], no: ["path.example"] },
  { form: "cosmetic rule skipped", text: "example.com##.banner", yes: [], no: ["example.com"] },
];

test("rule forms: each blocks what it should and nothing else (table)", () => {
  for (const f of FORMS) {
    const { blocks } = build(f.text, f.format);
    for (const n of f.yes) assert.equal(blocks(n), true, `${f.form}: ${n} blocked`);
    for (const n of f.no) assert.equal(blocks(n), false, `${f.form}: ${n} not blocked`);
  }
});

test("$dnstype and $client read the query", () => {
  const { blocks } = build("||v6.example^$dnstype=AAAA\n||lan.example^$client=10.0.0.0/8");
  assert.equal(blocks("v6.example", "AAAA"), true);
  assert.equal(blocks("v6.example", "A"), false);
  assert.equal(blocks("lan.example", "A", "10.1.2.3"), true);
  assert.equal(blocks("lan.example", "A", "192.0.2.1"), false);
  const { set } = build("||lan.example^$client=10.0.0.0/8");
  assert.equal(set.readsClient(["l"]), true);
  assert.equal(build("||a.example^").set.readsClient(["l"]), false);
});

test("the match says which rule and which name, and carries a rewrite", () => {
  const { set, list } = build("||rw.example^$dnsrewrite=NOERROR;A;10.0.0.1\nads.example");
  set.query.begin(1, "A", "192.0.2.1");
  assert.equal(list.hasAny(domainsOf("x.ads.example")), true);
  assert.equal(set.query.matchRule, "ads.example");
  assert.equal(set.query.matchName, "x.ads.example");
  assert.equal(list.hasAny(domainsOf("rw.example")), true);
  assert.equal(set.query.matchRule, "||rw.example^$dnsrewrite=NOERROR;A;10.0.0.1");
  assert.deepEqual(set.query.matchRewrite, { rcode: "NOERROR", type: "A", value: "10.0.0.1" });
  set.query.end();
});

test("rules kept as names in a set per shape say which rule matched, and count as rules", () => {
  const { set, list } = build(
    "|ex.example^\n|ex2.example^\n||*.w.example^$dnstype=A\n||imp.example^$important\n||imp.example^$important\n||ad*.g.example^$important",
  );
  assert.equal(list.ruleCount, 5, "a repeated name rule counts once");
  assert.equal(list.size, 5);
  set.query.begin(1, "A", "192.0.2.1");
  assert.equal(list.hasAny(domainsOf("ex.example")), true);
  assert.equal(set.query.matchRule, "|ex.example^");
  assert.equal(list.hasAny(domainsOf("a.b.w.example")), true);
  assert.equal(set.query.matchRule, "||*.w.example^$dnstype=A");
  assert.equal(set.query.matchName, "a.b.w.example");
  assert.equal(list.hasAny(domainsOf("x.imp.example")), true);
  assert.equal(set.query.matchRule, "||imp.example^$important");
  assert.equal(list.hasAny(domainsOf("x.ad7.g.example")), true);
  assert.equal(set.query.matchRule, "||ad*.g.example^$important");
  assert.equal(set.query.matchName, "x.ad7.g.example");
  assert.equal(list.hasAny(domainsOf("w.example")), false);
  set.query.end();
});

test("dns.fqdn in $list: a name on its own; .allow still holds the exceptions", () => {
  const { list, set } = build("ads.example\n@@||ok.ads.example^");
  assert.equal(list.has("ads.example"), true);
  assert.equal(list.has("x.ads.example"), false);
  assert.equal(set.bytes("l.allow")!.has("ok.ads.example"), true);
  assert.equal(list.hasAny(domainsOf("ok.ads.example")), false);
  // An array that is not a name with its parents is tested element by element.
  assert.equal(list.hasAny(["x.example", "ads.example"]), true);
});

test("unparseable lines are skipped and counted, the first few with line numbers", () => {
  const text = [
    "good.example",
    "bad..example",
    "||ok.example^",
    "||tp.example^$third-party",
    "||x.example^$nosuchmodifier",
    "/(unclosed/",
    "0.0.0.0 fine.example",
    "with space here",
  ].join("\n");
  const { stats, blocks } = build(text);
  assert.equal(stats.rejected, 4);
  assert.equal(stats.unsupported, 1);
  assert.deepEqual(
    stats.samples!.map((s) => s.line),
    [2, 5, 8, 6],
  );
  assert.match(stats.samples![3]!.reason, /regular expression/);
  assert.equal(blocks("good.example"), true);
  assert.equal(blocks("fine.example"), true);
  assert.equal(stats.size, 3);
});

test("comments, headers, BOM and CRLF", () => {
  const { blocks, stats } = build(
    "\ufeffbom.example\r\n# hash\n! bang\n[Adblock Plus 2.0]\nCase.EXAMPLE.\r\n",
  );
  assert.equal(blocks("bom.example"), true);
  assert.equal(blocks("case.example"), true);
  assert.equal(stats.rejected, 0);
});

test("domain set: buffers sized for more than they get, on reused memory, hold only the names added", () => {
  // The builder's buffers and the table are allocated uninitialised: fill freed memory with
  // bytes that would read as names and table entries, so a read of anything never written fails.
  for (let i = 0; i < 8; i++) Buffer.allocUnsafeSlow(1 << 20).fill(0x61);
  for (const expect of [{ bytes: 1 << 20, names: 1 << 16 }, { bytes: 64, names: 2 }, undefined]) {
    const b = new DomainSetBuilder(expect);
    for (let i = 0; i < 3000; i++) b.addString(`host${i % 1500}.example`);
    const s = b.build();
    assert.equal(s.size, 1500);
    for (let i = 0; i < 1500; i++) assert.ok(s.has(`host${i}.example`), `host${i}.example`);
    assert.ok(!s.has("host1500.example"));
    assert.ok(!s.has("a".repeat(12)));
    assert.ok(!s.hasOrParent("aaaa.aaaa"));
    // Trimmed to what it holds (1500 distinct of 3000 names): the arena is not the 1 MiB asked.
    assert.ok(s.byteLength < 200_000, `${s.byteLength} bytes held`);
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

test("domain set: an adopted source holds its names in place, and a name that would overtake the unread bytes moves them out first", () => {
  const text = "aa.example\nbb.example\ncc.example\n";
  const src = Buffer.from(text);
  const b = new DomainSetBuilder();
  b.adopt(src);
  b.addBytes(src, 0, 10);
  // Read only up to the end of line one: a long name written now would reach "bb.example".
  b.consumed(src, 10);
  b.addString("a-much-longer-name.example");
  b.addBytes(src, 11, 21);
  b.addBytes(src.subarray(22), 0, 10);
  const s = b.build();
  for (const n of ["aa.example", "bb.example", "cc.example", "a-much-longer-name.example"])
    assert.ok(s.has(n), n);
  assert.equal(s.size, 4);
});

test("a list file adopted as the arena matches the same lines given as items", async () => {
  const { mkdtempSync, writeFileSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const lines: string[] = ["# header", "[Adblock Plus 2.0]"];
  for (let i = 0; i < 6000; i++) {
    switch (i % 6) {
      case 0:
        lines.push(`Host${i}.Example.`);
        break;
      case 1:
        lines.push(`0.0.0.0 a${i}.example b${i}.example # two names`);
        break;
      case 2:
        lines.push(`||ads${i}.example^`);
        break;
      case 3:
        lines.push(`@@||ok${i}.example^`);
        break;
      case 4:
        lines.push(`||w${i}*.example^`);
        break;
      default:
        lines.push(`  t${i}.example  `);
    }
  }
  const text = lines.join("\n");
  assert.ok(text.length > 64 * 1024);
  const file = join(mkdtempSync(join(tmpdir(), "gh-adopt-")), "list.txt");
  writeFileSync(file, text);
  const fromFile = buildListSet([{ id: "l1", name: "l", type: "domain", file }]);
  const fromItems = build(text);
  assert.deepEqual(fromFile.stats, fromItems.set.stats);
  const a = fromFile.domains("l")!;
  for (let i = 0; i < 6000; i++)
    for (const n of [
      `host${i}.example`,
      `a${i}.example`,
      `b${i}.example`,
      `ads${i}.example`,
      `ok${i}.example`,
      `w${i}x.example`,
      `t${i}.example`,
      `x.ads${i}.example`,
    ])
      assert.equal(a.hasOrParent(n), fromItems.list.hasOrParent(n), n);
  assert.equal(a.block.size, fromItems.list.block.size);
});

test("a domain set refuses a name its one-byte lengths cannot hold", () => {
  const b = new DomainSetBuilder();
  b.addString("ok.example");
  assert.throws(() => b.addString("a".repeat(254)), RangeError);
  assert.throws(() => b.addString(""), RangeError);
  assert.throws(() => b.addBytes(new Uint8Array(300), 0, 300), RangeError);
  const set = b.build();
  assert.equal(set.size, 1);
  assert.ok(set.has("ok.example"));
});
