// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${N} is the replacement syntax of the rules language
import assert from "node:assert/strict";
import { test } from "node:test";
import type { MissingMode } from "./api.ts";
import { createListSet } from "./lists.ts";
import { Scheme } from "./scheme.ts";

const scheme = new Scheme({
  fields: {
    ssl: "Bool",
    host: "Bytes",
    path: "Bytes",
    port: "Int",
    ip: "Ip",
    cookies: "Array<Bytes>",
    headers: "Map<Bytes>",
    args: "Map<Array<Bytes>>",
    parts: "Array<Array<Bytes>>",
    bools: "Array<Bool>",
    bmap: "Map<Array<Bool>>",
    ips: "Array<Ip>",
  },
});

const lists = createListSet()
  .addBytes("bad", ["bad.example", "évil.example"])
  .addIp("net", ["10.0.0.0/8", "192.0.2.1", "2001:db8::/32"])
  .addInt("ports", [22, [8000, 8080], "9000..9001"]);

function run(expr: string, fields: Record<string, unknown> = {}, missing?: MissingMode): boolean {
  const f = scheme.compile(expr, { missing });
  if (!f.ok) assert.fail(f.error.render());
  const ctx = scheme.context(lists);
  for (const [k, v] of Object.entries(fields)) ctx.setText(k, v);
  return f.value.execute(ctx);
}

test("missing values: Cloudflare mode makes every comparison false, != included", () => {
  assert.equal(run('host == "a"'), false);
  assert.equal(run('host != "a"'), false);
  assert.equal(run('not host == "a"'), true);
  assert.equal(run('not host != "a"'), true);
  assert.equal(run("port < 10"), false);
  assert.equal(run("ip != 1.2.3.4"), false);
  assert.equal(run('lower(host) != "a"'), false);
  assert.equal(run('cookies[3] != "a"', { cookies: ["x"] }), false);
  assert.equal(run('headers["k"] != "a"', { headers: {} }), false);
  assert.equal(run("ssl"), false);
  assert.equal(run("not ssl"), true);
});

test("missing values: wirefilter mode makes != true", () => {
  assert.equal(run('host != "a"', {}, "wirefilter"), true);
  assert.equal(run('not host != "a"', {}, "wirefilter"), false);
  assert.equal(run('host == "a"', {}, "wirefilter"), false);
  assert.equal(run('cookies[3] != "a"', { cookies: ["x"] }, "wirefilter"), true);
  assert.equal(run("ip != 1.2.3.4", {}, "wirefilter"), true);
  // The scheme default can be wirefilter too.
  const wf = new Scheme({ fields: { h: "Bytes" }, missing: "wirefilter" });
  const f = wf.compile('h != "a"');
  assert.ok(f.ok);
  if (f.ok) assert.equal(f.value.execute(wf.context()), true);
});

test("quantifiers over missing data (spec §3.8)", () => {
  assert.equal(run('any(cookies[*] == "x")'), false);
  assert.equal(run('all(cookies[*] == "x")'), true);
  assert.equal(run('any(args["k"][*] == "x")', { args: {} }), false);
  assert.equal(run('all(args["k"][*] == "x")', { args: {} }), true);
  // a direct Array<Bool> that is missing: both false
  assert.equal(run("any(bools)"), false);
  assert.equal(run("all(bools)"), false);
  assert.equal(run('all(bmap["nope"])', { bmap: {} }), false);
  // present but empty
  assert.equal(run("any(bools)", { bools: [] }), false);
  assert.equal(run("all(bools)", { bools: [] }), true);
  assert.equal(run("all(bools)", { bools: [true, true] }), true);
  assert.equal(run("any(bools)", { bools: [false, true] }), true);
  assert.equal(run('len(args["k"]) >= 0', { args: { k: ["a"] } }), true);
  assert.equal(run('not len(args["j"]) >= 0', { args: { k: ["a"] } }), true);
});

test("Array<Bool> logic is element-wise and truncated to the shorter side", () => {
  const c = { cookies: ["a", "b", "c"], bools: [true, false] };
  assert.equal(run('all((cookies[*] != "z" and bools))', c), false);
  assert.equal(run('any((cookies[*] == "b" and bools))', c), false);
  assert.equal(run('any((cookies[*] == "a" and bools))', c), true);
  assert.equal(run('any((cookies[*] == "c" or bools))', c), true);
  assert.equal(run('any((cookies[*] == "c" xor bools))', c), true);
  assert.equal(run('all((cookies[*] == "c" xor bools))', c), false);
  assert.equal(run("any(not bools)", c), true);
  assert.equal(run("all(not bools)", c), false);
});

test("xor is parity, and/or short-circuit", () => {
  assert.equal(run("ssl ^^ ssl ^^ ssl", { ssl: true }), true);
  assert.equal(run("ssl xor ssl", { ssl: true }), false);
  assert.equal(run("ssl or ssl and not ssl", { ssl: true }), true);
  assert.equal(run("ssl and ssl and ssl and ssl", { ssl: true }), true);
  assert.equal(run("ssl or ssl or ssl or ssl", { ssl: false }), false);
});

test("Bytes comparisons are byte-wise and case-sensitive", () => {
  assert.equal(run('host < "b"', { host: "abc" }), true);
  assert.equal(run('host >= "b"', { host: "ab" }), false);
  assert.equal(run('host == "é"', { host: "é" }), true);
  assert.equal(run('host == "\\xe9"', { host: "é" }), false);
  assert.equal(run('host == "\\xc3\\xa9"', { host: "é" }), true);
  assert.equal(run('host contains ""', { host: "x" }), true);
  assert.equal(run('host contains ""'), false);
  assert.equal(run("host contains 6F:72:67", { host: "example.org" }), true);
  assert.equal(run("host in {}", { host: "x" }), false);
  assert.equal(run('host in {"a" 62:63}', { host: "bc" }), true);
});

test("Int operators", () => {
  assert.equal(run("port & 1", { port: 443 }), true);
  assert.equal(run("port & 1", { port: 80 }), false);
  assert.equal(run("port bitwise_and 0x2", { port: 6 }), true);
  assert.equal(run("port & 0x100000000", { port: 2 ** 32 }), true);
  assert.equal(run("port in {80 443 2082..2083}", { port: 2083 }), true);
  assert.equal(run("port in {80 443 2082..2083}", { port: 2084 }), false);
  assert.equal(run("port in {1..3 2..10}", { port: 10 }), true);
  assert.equal(run("port == 0120", { port: 80 }), true);
});

test("IP semantics: families are incomparable except for !=", () => {
  assert.equal(run("ip <= 10:20:30:40:50:60:70:80", { ip: "127.0.0.1" }), false);
  assert.equal(run("ip <= 10:20:30:40:50:60:70:80", { ip: "::1" }), true);
  assert.equal(run("ip != ::1", { ip: "127.0.0.1" }), true);
  assert.equal(run("ip == ::1", { ip: "127.0.0.1" }), false);
  assert.equal(run("ip == ::ffff:127.0.0.1", { ip: "127.0.0.1" }), false);
  assert.equal(run("ip in {127.0.0.0/8}", { ip: "::ffff:127.0.0.1" }), false);
  assert.equal(run("ip == 2001:db8::1", { ip: "2001:0db8:0000::0001" }), true);
  assert.equal(run("ip > 10.0.0.1", { ip: "10.0.0.2" }), true);
  assert.equal(
    run("ip in { 127.0.0.0/8 ::1 10.0.0.0..10.0.255.255 }", { ip: "10.0.255.255" }),
    true,
  );
  assert.equal(run("ip in { 127.0.0.0/8 ::1 10.0.0.0..10.0.255.255 }", { ip: "::2" }), false);
  assert.equal(run("ip in {::/0}", { ip: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" }), true);
  assert.equal(run("ip in {0.0.0.0/0}", { ip: "255.255.255.255" }), true);
});

test("wildcards: whole value, ASCII case-insensitive unless strict, ? literal", () => {
  const uri = (u: string) => ({ path: u });
  assert.equal(
    run(
      'path wildcard "https://example.com/a/*"',
      uri("https://example.com/a/sub/folder/?name=value"),
    ),
    true,
  );
  assert.equal(
    run('path wildcard "https://example.com/a/*"', uri("https://sub.example.com/a/")),
    false,
  );
  assert.equal(
    run('path wildcard "*.example.com/*/page.html"', uri("https://example.com/ab/page.html")),
    false,
  );
  assert.equal(run('host wildcard "*.EXAMPLE.com"', { host: "www.example.com" }), true);
  assert.equal(run('host strict wildcard "*.EXAMPLE.com"', { host: "www.example.com" }), false);
  assert.equal(run('host wildcard "?"', { host: "x" }), false);
  assert.equal(run('host wildcard "?"', { host: "?" }), true);
  assert.equal(run('host wildcard "a\\\\*b"', { host: "a*b" }), true);
  assert.equal(run('host wildcard r"a\\*b"', { host: "axb" }), false);
  assert.equal(run('host wildcard "*"', { host: "" }), true);
  assert.equal(run('host wildcard "a*a"', { host: "a" }), false);
  assert.equal(run('host wildcard "a*a"', { host: "aa" }), true);
  assert.equal(run('host wildcard "*a*b*"', { host: "xxaxxbxx" }), true);
});

test("regex matching is unanchored and byte-oriented", () => {
  assert.equal(run('host matches "a.b"', { host: "xxaxbyy" }), true);
  assert.equal(run('host ~ "^EXAMPLE"', { host: "example.com" }), false);
  assert.equal(run('host ~ "(?i)^EXAMPLE"', { host: "example.com" }), true);
  assert.equal(run('host matches "a\\"b"', { host: 'a"b' }), true);
  assert.equal(run('any(cookies[*] ~ "^t")', { cookies: ["one", "two"] }), true);
});

test("map-each: arrays, map values in key order, nested and flattened", () => {
  assert.equal(
    run('any(headers[*] == "three")', { headers: { b: "two", a: "one", c: "three" } }),
    true,
  );
  assert.equal(
    run('any(parts[*][1] == "x1")', {
      parts: [
        ["a0", "a1"],
        ["x0", "x1"],
      ],
    }),
    true,
  );
  assert.equal(run('all(parts[*][1] != "zz")', { parts: [["a0"], ["x0", "x1"]] }), true);
  assert.equal(run('any(parts[*][*] == "x0")', { parts: [["a0"], ["x0", "x1"]] }), true);
  assert.equal(run("all(len(parts[*][*])[*] == 2)", { parts: [["a0"], ["x0", "x1"]] }), true);
  assert.equal(
    run('any(lower(cookies[*])[*] == "content-type")', { cookies: ["Content-Type"] }),
    true,
  );
  assert.equal(run('any(concat(cookies[*], "-cf")[*] == "b-cf")', { cookies: ["a", "b"] }), true);
  assert.equal(run('any(starts_with(cookies[*], "b"))', { cookies: ["a", "bb"] }), true);
  assert.equal(run('all(starts_with(cookies[*], "b"))', { cookies: ["a", "bb"] }), false);
  assert.equal(run("any(ips[*] in {198.51.100.0/24})", { ips: ["198.51.100.7"] }), true);
});

test("lists: Bytes, Ip (CIDRs), Int (ranges); an absent list is false", () => {
  assert.equal(run("host in $bad", { host: "bad.example" }), true);
  assert.equal(run("host in $bad", { host: "évil.example" }), true);
  assert.equal(run("host in $bad", { host: "good.example" }), false);
  assert.equal(run("ip in $net", { ip: "10.1.2.3" }), true);
  assert.equal(run("ip in $net", { ip: "192.0.2.1" }), true);
  assert.equal(run("ip in $net", { ip: "192.0.2.2" }), false);
  assert.equal(run("ip in $net", { ip: "2001:db8:1::1" }), true);
  assert.equal(run("ip in $net", { ip: "2001:db9::1" }), false);
  assert.equal(run("port in $ports", { port: 8042 }), true);
  assert.equal(run("port in $ports", { port: 9001 }), true);
  assert.equal(run("port in $ports", { port: 23 }), false);
  assert.equal(run("host in $nothing", { host: "x" }), false);
  assert.equal(run("not host in $nothing", { host: "x" }), true);
  const f = scheme.compile("host in $bad");
  assert.ok(f.ok);
  if (f.ok) assert.equal(f.value.execute(scheme.context().setText("host", "bad.example")), false);
});

test("functions: §4.2 examples", () => {
  assert.equal(run('lower(host) == "www.cloudflare.com"', { host: "WWW.cloudflare.com" }), true);
  assert.equal(run('upper(host) == "WWW.CLOUDFLARE.COM"', { host: "www.cloudflare.com" }), true);
  assert.equal(run('lower(host) == "\\xc9"', { host: "É" }), false); // ASCII only
  assert.equal(run("len(host) == 11", { host: "example.com" }), true);
  assert.equal(run("len(host) == 2", { host: "é" }), true); // bytes, not chars
  assert.equal(run("len(cookies) == 3", { cookies: ["a", "b", "c"] }), true);
  assert.equal(run('starts_with(path, "/blog")', { path: "/blog/first-post" }), true);
  assert.equal(run('ends_with(path, ".html")', { path: "/welcome.html" }), true);
  assert.equal(
    run('remove_bytes(host, "\\x2e\\x77") == "cloudflarecom"', { host: "www.cloudflare.com" }),
    true,
  );
  assert.equal(run('url_decode(path) == "John Doe"', { path: "John+Doe" }), true);
  assert.equal(run('url_decode(path) == "%20"', { path: "%2520" }), true);
  assert.equal(run('url_decode(path, "r") == " "', { path: "%2520" }), true);
  assert.equal(run('url_decode(path, "u") == "é"', { path: "%u00e9" }), true);
  assert.equal(run('url_decode(path, "u") == "😀"', { path: "%uD83D%uDE00" }), true);
  assert.equal(run('url_decode(path) == "%zz%"', { path: "%zz%" }), true);
  assert.equal(run('concat("String1", " ", "String", "2") == "String1 String2"'), true);
  assert.equal(run('concat(host, ".org") == ".org"'), true); // missing arguments are skipped
  assert.equal(run("len(concat(cookies, cookies)) == 4", { cookies: ["a", "b"] }), true);
  assert.equal(run('substring(host, 2, 5) == "dfg"', { host: "asdfghjk" }), true);
  assert.equal(run('substring(host, -2) == "jk"', { host: "asdfghjk" }), true);
  assert.equal(run('substring(host, 0, -2) == "asdfgh"', { host: "asdfghjk" }), true);
  assert.equal(run('substring(host, 6, 2) == ""', { host: "asdfghjk" }), true);
  assert.equal(run('to_string(port) == "5"', { port: 5 }), true);
  assert.equal(run('to_string(ssl) == "true"', { ssl: true }), true);
  assert.equal(run('to_string(ip) == "2001:db8::1"', { ip: "2001:db8:0:0:0:0:0:1" }), true);
  assert.equal(
    run('wildcard_replace(host, "*.example.com", "${1}") == "WWW"', { host: "WWW.Example.com" }),
    true,
  );
  assert.equal(
    run('wildcard_replace(host, "*.example.com", "x", "s") == "WWW.Example.com"', {
      host: "WWW.Example.com",
    }),
    true,
  );
  assert.equal(
    run('wildcard_replace(path, "/a/*/b/*", "/${2}/${1}$$") == "/y/x$"', { path: "/a/x/b/y" }),
    true,
  );
  assert.equal(run('regex_replace(host, "o", "0") == "f0o"', { host: "foo" }), true);
  assert.equal(
    run('regex_replace(host, r"^(\\w+)\\.(\\w+)$", "${2}.${1}") == "b.a"', { host: "a.b" }),
    true,
  );
  // spec §3.3: a quoted "\\\\" and a raw r"\\" are the same regex (one escaped backslash)
  assert.equal(run(String.raw`regex_replace(host, "\\\\", "a") == "xay"`, { host: "x\\y" }), true);
  assert.equal(run(String.raw`regex_replace(host, r"\\", "a") == "xay"`, { host: "x\\y" }), true);
});

test("functions: literal arguments are validated at parse time", () => {
  for (const [expr, kind] of [
    ['regex_replace(host, "(", "x") == "a"', "InvalidArgumentValue"],
    ['regex_replace(host, "a", "${9}") == "a"', "InvalidArgumentValue"],
    ['wildcard_replace(host, "a**", "x") == "a"', "InvalidArgumentValue"],
    ['wildcard_replace(host, "a*", "${2}") == "a"', "InvalidArgumentValue"],
    ['wildcard_replace(host, "a*", "x", "q") == "a"', "InvalidArgumentValue"],
    ['substring(host, port) == "a"', "InvalidArgumentKind"],
    ['substring(host, "1") == "a"', "InvalidArgumentType"],
    ['to_string(host) == "a"', "InvalidArgumentType"],
    ["len(port) == 1", "InvalidArgumentType"],
  ] as const) {
    const r = scheme.parse(expr);
    assert.equal(r.ok ? "ok" : r.error.kind, kind, expr);
  }
});

test("context: conversions, reset, and type errors", () => {
  const ctx = scheme.context();
  ctx
    .set("host", "\xff\x00")
    .set("cookies", ["a"])
    .set("ip", { family: 4, v4: 1 })
    .set("port", 10n);
  ctx.set(
    "headers",
    new Map([
      ["b", "2"],
      ["a", "1"],
    ]),
  );
  // "€" cannot be a byte, so the string is taken as text and UTF-8 encoded
  const euro = scheme.compile('host == "\\xc3\\xa9\\xe2\\x82\\xac"');
  assert.ok(euro.ok);
  if (euro.ok) assert.equal(euro.value.execute(ctx.set("host", "é€")), true);
  ctx.set("host", "\xff\x00");
  assert.throws(() => ctx.set("port", 1.5), /Int/);
  assert.throws(() => ctx.set("ip", "not-an-ip"), /not an IP/);
  assert.throws(() => ctx.set("nope", 1), /unknown field/);
  assert.throws(() => ctx.set("cookies", [1]), /field "cookies"/);
  const f = scheme.compile(
    'host == "\\xff\\x00" and port == 10 and ip == 0.0.0.1 and headers["a"] == "1"',
  );
  assert.ok(f.ok);
  if (!f.ok) return;
  assert.equal(f.value.execute(ctx), true);
  ctx.reset();
  assert.equal(f.value.execute(ctx), false);
  const other = new Scheme({ fields: { host: "Bytes" } });
  assert.throws(() => f.value.execute(other.context()), /different scheme/);
});
