import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { normalizeDomain, normalizeInt, normalizeIp, parseLine } from "./list-items.ts";

describe("list item normalisation", () => {
  it("domains: lower-case, trailing dot, IDN to A-labels, no wildcards, limits", () => {
    const ok = (s: string) => {
      const r = normalizeDomain(s);
      assert.ok(r.ok, s);
      return r.value;
    };
    assert.equal(ok("Example.COM."), "example.com");
    assert.equal(ok("bücher.example"), "xn--bcher-kva.example");
    // The edge has no wildcard items (a name covers its subdomains): refused with the fix.
    const wild = normalizeDomain("*.ads.example");
    assert.equal(wild.ok, false);
    assert.match(wild.ok ? "" : wild.reason, /list "ads\.example", which covers its subdomains/);
    assert.equal(ok("_dmarc.example"), "_dmarc.example");
    for (const bad of [
      "",
      "a..b",
      "-a.example",
      "a b",
      `${"a".repeat(64)}.example`,
      `${"a.".repeat(127)}a`,
      "a/b",
    ])
      assert.equal(normalizeDomain(bad).ok, false, bad);
  });
  it("ips and CIDRs within the family's width", () => {
    assert.deepEqual(normalizeIp("10.0.0.0/8"), { ok: true, value: "10.0.0.0/8" });
    assert.deepEqual(normalizeIp("2001:DB8::/32"), { ok: true, value: "2001:db8::/32" });
    for (const bad of ["10.0.0.0/33", "::/129", "10.0.0", "10.0.0.0/", "10.0.0.0/8/8", "x"])
      assert.equal(normalizeIp(bad).ok, false, bad);
  });
  it("ints are safe integers", () => {
    assert.deepEqual(normalizeInt("42"), { ok: true, value: "42" });
    assert.deepEqual(normalizeInt(-7), { ok: true, value: "-7" });
    for (const bad of ["1.5", "9007199254740993", "0x10", ""])
      assert.equal(normalizeInt(bad).ok, false, bad);
  });
});

describe("list line formats", () => {
  const items = (format: "auto" | "hosts" | "adblock" | "plain" | "regex", line: string) =>
    parseLine("domain", format, line);
  it("hosts files: address then names, boilerplate and comments skipped", () => {
    assert.deepEqual(items("auto", "0.0.0.0 ads.example tracker.example # comment"), {
      kind: "items",
      values: ["ads.example", "tracker.example"],
    });
    assert.deepEqual(items("hosts", "127.0.0.1 localhost"), { kind: "skip" });
    assert.deepEqual(items("auto", "::1 ip6-localhost"), { kind: "skip" });
    assert.equal(items("hosts", "ads.example").kind, "invalid");
  });
  it("adblock: ||name^ kept, exceptions and rules kept in canonical form, browser rules unsupported", () => {
    assert.deepEqual(items("auto", "||ads.example^"), { kind: "items", values: ["ads.example"] });
    // Exceptions are stored in the form the edge files under `<list>.allow`.
    assert.deepEqual(items("adblock", "@@||Good.Example.^"), {
      kind: "items",
      values: ["@@||good.example^"],
    });
    assert.deepEqual(items("auto", "@@||good.example^"), {
      kind: "items",
      values: ["@@||good.example^"],
    });
    assert.equal(items("adblock", "@@||good.example^$document").kind, "unsupported");
    assert.equal(items("adblock", "@@||good.example/path").kind, "unsupported");
    assert.deepEqual(items("adblock", "@@||*.Good.example^"), {
      kind: "items",
      values: ["@@||*.good.example^"],
    });
    assert.deepEqual(items("adblock", "||*.ads.example^"), {
      kind: "items",
      values: ["||*.ads.example^"],
    });
    assert.deepEqual(items("auto", "||AD*.example^$Important,dnstype=aaaa|~A"), {
      kind: "items",
      values: ["||ad*.example^$important,dnstype=AAAA|~A"],
    });
    assert.deepEqual(items("auto", "/^ads?[0-9]*\\./"), {
      kind: "items",
      values: ["/^ads?[0-9]*\\./"],
    });
    assert.deepEqual(items("regex", "(^|\\.)ads\\.example$"), {
      kind: "items",
      values: ["/(^|\\.)ads\\.example$/"],
    });
    assert.equal(items("auto", "/(unclosed/").kind, "invalid");
    assert.deepEqual(items("auto", "address=/dm.example/0.0.0.0"), {
      kind: "items",
      values: ["dm.example"],
    });
    assert.equal(items("auto", "server=/fw.example/192.0.2.1").kind, "unsupported");
    assert.equal(items("adblock", "@@||bad..example^").kind, "invalid");
    assert.equal(items("adblock", "||x.example^$nonsense").kind, "invalid");
    assert.equal(items("adblock", "||x.example^$third-party").kind, "unsupported");
    assert.deepEqual(items("adblock", "! comment"), { kind: "skip" });
    assert.equal(items("adblock", "||x.example/path").kind, "unsupported");
  });
  it("plain: one name a line", () => {
    assert.deepEqual(items("plain", "  Plain.Example  "), {
      kind: "items",
      values: ["plain.example"],
    });
    assert.deepEqual(items("plain", "# c"), { kind: "skip" });
  });
  it("non-domain lists take one item a line", () => {
    assert.deepEqual(parseLine("ip", "auto", "192.0.2.0/24 # office"), {
      kind: "items",
      values: ["192.0.2.0/24"],
    });
    assert.deepEqual(parseLine("string", "auto", "anything at all"), {
      kind: "items",
      values: ["anything at all"],
    });
    assert.equal(parseLine("int", "auto", "x").kind, "invalid");
  });
});
