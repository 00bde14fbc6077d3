import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { test } from "node:test";
import { ClientRequest } from "./http1/message.ts";
import { parseRequestHead } from "./http1/syntax.ts";
import { checkRequestHead } from "./request-head.ts";
import { parseAuthority } from "./stages/parse-target.ts";

const cfg = { maxHeaderCount: 10, maxUrlLength: 100, viaToken: "gatehouse-abc" };

/** A request as the connection loop makes it: the head text through the real parser. */
function req(rawHeaders: string[], url = "http://a.example/", minor = 1): ClientRequest {
  let head = `GET ${url} HTTP/1.${minor}\r\n`;
  for (let i = 0; i < rawHeaders.length; i += 2)
    head += `${rawHeaders[i]}: ${rawHeaders[i + 1]}\r\n`;
  const buf = Buffer.from(`${head}\r\n`, "latin1");
  const parsed = parseRequestHead(buf, buf.length, { maxHeadBytes: 1 << 16, maxHeaderCount: 1000 });
  return new ClientRequest(parsed, {} as Socket, { attach() {}, resume() {} }, false);
}

test("framing problems are refused (table)", () => {
  const cases: [string, string[], number | undefined][] = [
    ["plain", ["Host", "a"], undefined],
    ["chunked", ["Host", "a", "Transfer-Encoding", "chunked"], undefined],
    ["CL+TE", ["Host", "a", "Content-Length", "5", "Transfer-Encoding", "chunked"], 400],
    ["two CL, same value", ["Host", "a", "Content-Length", "5", "content-length", "5"], 400],
    ["CL not digits", ["Host", "a", "Content-Length", "+5"], 400],
    ["empty CL", ["Host", "a", "Content-Length", ""], 400],
    ["two TE", ["Host", "a", "Transfer-Encoding", "chunked", "Transfer-Encoding", "chunked"], 400],
    [",chunked", ["Host", "a", "Transfer-Encoding", ",chunked"], 501],
    ["gzip, chunked", ["Host", "a", "Transfer-Encoding", "gzip, chunked"], 501],
    ["no Host", [], 400],
    ["two Host", ["Host", "a", "Host", "b"], 400],
    ["100-continue", ["Host", "a", "Expect", "100-Continue"], undefined],
    ["other expectation", ["Host", "a", "Expect", "200-ok"], 417],
    ["our Via", ["Host", "a", "Via", "1.1 other, 1.1 Gatehouse-ABC"], 508],
    [
      "too many",
      ["Host", "a", ...Array.from({ length: 10 }, (_, i) => [`X-${i}`, "v"]).flat()],
      431,
    ],
  ];
  for (const [name, headers, status] of cases) {
    assert.equal(checkRequestHead(req(headers), cfg)?.status, status, name);
  }
  assert.equal(
    checkRequestHead(req(["Host", "a"], `http://a/${"x".repeat(100)}`), cfg)?.status,
    414,
  );
  assert.equal(
    checkRequestHead(req(["Host", "a", "Transfer-Encoding", "chunked"], "http://a/", 0), cfg)
      ?.status,
    400,
  );
  // HTTP/1.0 needs no Host (RFC 9112 §3.2 is about 1.1): the target carries the authority.
  assert.equal(checkRequestHead(req([], "http://a/", 0), cfg), undefined);
  assert.equal(checkRequestHead(req(["Host", "a", "Host", "a"], "http://a/", 0), cfg)?.status, 400);
});

test("authorities: names, IPv4, bracketed IPv6, ports; ambiguous forms refused", () => {
  assert.deepEqual(parseAuthority("Example.COM", 80), { host: "example.com", family: 0, port: 80 });
  assert.deepEqual(parseAuthority("example.com.:8080", 80), {
    host: "example.com",
    family: 0,
    port: 8080,
  });
  assert.deepEqual(parseAuthority("10.0.0.1:443", 0), { host: "10.0.0.1", family: 4, port: 443 });
  assert.deepEqual(parseAuthority("[::1]:443", 0), { host: "::1", family: 6, port: 443 });
  for (const bad of [
    "",
    ":80",
    "a:0",
    "a:65536",
    "a:8x",
    "[::1",
    "[zz]:1",
    "a b",
    "a%2eb",
    "2130706433",
    "0x7f.1",
    "127.1",
    "a..b",
    "-a.com",
    "a@b",
    "[::1%25lo]:80",
    "[fe80::1%25eth0]",
    "[fe80::1%eth0]:443",
  ]) {
    assert.equal(parseAuthority(bad, 80), undefined, bad);
  }
  assert.equal(parseAuthority("host", 0), undefined, "CONNECT without port");
});
