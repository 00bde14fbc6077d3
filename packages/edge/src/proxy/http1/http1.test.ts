import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { BodyError, ChunkedBody, LengthBody } from "./body.ts";
import { findHeadEnd, HeadError, parseRequestHead, parseResponseHead, resumeAt } from "./syntax.ts";

const LIMITS = { maxHeadBytes: 4096, maxHeaderCount: 8 };

function request(text: string) {
  const buf = Buffer.from(text, "latin1");
  const end = findHeadEnd(buf, 0, LIMITS);
  assert.ok(end > 0, "a complete head");
  return parseRequestHead(buf, end, LIMITS);
}

function refusal(text: string): number {
  try {
    request(text);
  } catch (e) {
    assert.ok(e instanceof HeadError, String(e));
    return e.status;
  }
  return 0;
}

test("request heads: start line, fields as sent, framing gathered", () => {
  const p = request(
    "POST http://a.example/x?y=1 HTTP/1.1\r\nHost: a.example\r\nContent-Length: 12\r\n" +
      "X-Spaces: \t padded value \t\r\nConnection: Keep-Alive, Upgrade\r\n\r\n",
  );
  assert.equal(p.method, "POST");
  assert.equal(p.target, "http://a.example/x?y=1");
  assert.equal(p.versionMinor, 1);
  assert.deepEqual(p.rawHeaders, [
    "Host",
    "a.example",
    "Content-Length",
    "12",
    "X-Spaces",
    "padded value",
    "Connection",
    "Keep-Alive, Upgrade",
  ]);
  assert.equal(p.contentLength, 12);
  assert.equal(p.teCount, 0);
  assert.ok(p.connKeepAlive && p.connUpgrade && !p.connClose);
  const te = request(
    "GET http://a/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n",
  );
  assert.equal(te.versionMinor, 0);
  assert.equal(te.teCount, 1);
  assert.equal(te.contentLength, 1);
  assert.equal(
    request("GET / HTTP/1.1\r\nContent-Length: 1\r\ncontent-length: 1\r\n\r\n").contentLength,
    -2,
  );
  assert.equal(request("GET / HTTP/1.1\r\nContent-Length: +1\r\n\r\n").contentLength, -2);
});

test("request heads: what a lenient hop could read differently is refused", () => {
  const cases: [string, string, number][] = [
    ["obs-fold", "GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", 400],
    ["space before colon", "GET / HTTP/1.1\r\nA : b\r\n\r\n", 400],
    ["bare CR in a value", "GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", 400],
    ["NUL in a value", "GET / HTTP/1.1\r\nA: b\0c\r\n\r\n", 400],
    ["DEL in a value", "GET / HTTP/1.1\r\nA: b\x7fc\r\n\r\n", 400],
    ["invalid name", "GET / HTTP/1.1\r\nA(b): c\r\n\r\n", 400],
    ["empty name", "GET / HTTP/1.1\r\n: c\r\n\r\n", 400],
    ["two spaces", "GET  / HTTP/1.1\r\n\r\n", 400],
    ["no version", "GET /\r\n\r\n", 400],
    ["lowercase version", "GET / http/1.1\r\n\r\n", 400],
    ["HTTP/0.9-style", "GET / HTTP/0.9\r\n\r\n", 400],
    ["HTTP/2 in text", "GET / HTTP/2.0\r\n\r\n", 505],
    ["space in target", "GET /a b HTTP/1.1\r\n\r\n", 400],
    ["non-ASCII in target", "GET /\xff HTTP/1.1\r\n\r\n", 400],
    ["unknown method", "FOO / HTTP/1.1\r\n\r\n", 501],
    ["lowercase method", "get / HTTP/1.1\r\n\r\n", 501],
    ["too many fields", `GET / HTTP/1.1\r\n${"A: b\r\n".repeat(9)}\r\n`, 431],
  ];
  for (const [name, text, status] of cases) assert.equal(refusal(text), status, name);
  // A bare LF anywhere is refused while the head is still being scanned.
  assert.throws(
    () => findHeadEnd(Buffer.from("GET / HTTP/1.1\nHost: a\n\n"), 0, LIMITS),
    (e: unknown) => e instanceof HeadError && e.status === 400,
  );
  // A head that never ends is refused once it passes the size limit.
  assert.throws(
    () => findHeadEnd(Buffer.from(`GET / HTTP/1.1\r\nA: ${"x".repeat(5000)}`), 0, LIMITS),
    (e: unknown) => e instanceof HeadError && e.status === 431,
  );
});

test("the head end is found whatever the reads' boundaries", () => {
  const text = Buffer.from("GET / HTTP/1.1\r\nHost: a\r\n\r\nNEXT");
  for (let cut = 1; cut < text.length; cut++) {
    const first = text.subarray(0, cut);
    let end = findHeadEnd(first, 0, LIMITS);
    if (end < 0) end = findHeadEnd(text, resumeAt(first), LIMITS);
    assert.equal(end, text.length - 4, `cut at ${cut}`);
  }
});

test("response heads: status, optional reason, framing", () => {
  const buf = Buffer.from("HTTP/1.1 204\r\nConnection: close\r\n\r\n");
  const p = parseResponseHead(buf, buf.length, LIMITS);
  assert.equal(p.status, 204);
  assert.ok(p.connClose);
  const ok = Buffer.from("HTTP/1.0 200 OK fine\r\nContent-Length: 5\r\n\r\n");
  assert.equal(parseResponseHead(ok, ok.length, LIMITS).contentLength, 5);
  for (const bad of ["HTTP/1.1 20\r\n\r\n", "HTTP/1.1 600 X\r\n\r\n", "HTTP/1.1  200 OK\r\n\r\n"]) {
    const b = Buffer.from(bad);
    assert.throws(() => parseResponseHead(b, b.length, LIMITS), HeadError, bad);
  }
});

/** Decode `input` fed in the given pieces; data joined, and where the message ended. */
function decodeChunked(pieces: Buffer[]): { data: string; end: number; rest: string } {
  const d = new ChunkedBody();
  const out: Buffer[] = [];
  let rest = "";
  let end = -1;
  for (const p of pieces) {
    if (end >= 0) {
      rest += p.toString("latin1");
      continue;
    }
    end = d.feed(p, 0, (c) => out.push(Buffer.from(c)));
    if (end >= 0) rest = p.subarray(end).toString("latin1");
  }
  return { data: Buffer.concat(out).toString("latin1"), end, rest };
}

test("chunked bodies: data, extensions and trailers, split at every byte", () => {
  const text = '5;a=1;b="q\\"x"\r\nhello\r\n0A\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\nGET next';
  const whole = decodeChunked([Buffer.from(text, "latin1")]);
  assert.equal(whole.data, "hello0123456789");
  assert.equal(whole.rest, "GET next");
  for (let cut = 1; cut < text.length; cut++) {
    const b = Buffer.from(text, "latin1");
    const r = decodeChunked([b.subarray(0, cut), b.subarray(cut)]);
    assert.equal(r.data, "hello0123456789", `cut at ${cut}`);
    assert.equal(r.rest, "GET next", `cut at ${cut}`);
  }
});

test("chunked bodies: framing a lenient hop could read differently is refused", () => {
  const bad = [
    "x\r\n", // not hex
    "5 \r\nhello\r\n0\r\n\r\n", // space after the size
    "5\nhello\r\n0\r\n\r\n", // bare LF
    "5\r\nhelloX\r\n0\r\n\r\n", // data longer than its size
    "1000000000000\r\n", // 13 hex digits
    "5;\r\nhello\r\n", // empty extension name
    "5;a=\r\nhello\r\n", // empty value
    "5;a b\r\nhello\r\n", // space in an extension
    "0\r\nBad Trailer: x\r\n\r\n",
    "0\r\nX: a\nb\r\n\r\n",
    "-5\r\n",
  ];
  for (const b of bad) {
    assert.throws(
      () => new ChunkedBody().feed(Buffer.from(b), 0, () => {}),
      BodyError,
      JSON.stringify(b),
    );
  }
});

test("length bodies end exactly at their length", () => {
  const d = new LengthBody(7);
  const got: string[] = [];
  assert.equal(
    d.feed(Buffer.from("abc"), 0, (c) => got.push(c.toString())),
    -1,
  );
  assert.equal(d.remaining, 4);
  assert.equal(
    d.feed(Buffer.from("defgNEXT"), 0, (c) => got.push(c.toString())),
    4,
  );
  assert.deepEqual(got, ["abc", "defg"]);
  assert.ok(d.done);
});

test("fuzz: arbitrary bytes are parsed or refused with a HeadError/BodyError, never misread", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      const buf = Buffer.from(bytes);
      try {
        const end = findHeadEnd(buf, 0, LIMITS);
        if (end > 0) parseRequestHead(buf, end, LIMITS);
      } catch (e) {
        assert.ok(e instanceof HeadError, String(e));
      }
      try {
        new ChunkedBody().feed(buf, 0, () => {});
      } catch (e) {
        assert.ok(e instanceof BodyError, String(e));
      }
    }),
    { numRuns: 3000 },
  );
  // Mutations of a valid request: one byte changed is still either a valid parse or a refusal.
  const base = "POST http://a/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
  fc.assert(
    fc.property(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 }), (at, byte) => {
      const buf = Buffer.from(base, "latin1");
      buf[at] = byte;
      try {
        const end = findHeadEnd(buf, 0, LIMITS);
        if (end > 0) {
          const p = parseRequestHead(buf, end, LIMITS);
          // Whatever parsed has no CR, LF or NUL in what would be forwarded.
          for (const s of p.rawHeaders) assert.doesNotMatch(s, /[\r\n\0]/);
        }
      } catch (e) {
        assert.ok(e instanceof HeadError, String(e));
      }
    }),
    { numRuns: 3000 },
  );
});

test("framing fields are recognised in any letter case, and only those names", () => {
  const flip = (s: string, mask: number) =>
    [...s].map((c, i) => ((mask >> (i % 30)) & 1 ? c.toUpperCase() : c.toLowerCase())).join("");
  for (const mask of [0, 1, 0x2aaaaaaa, 0x15555555, 0x3fffffff, 0x12345678]) {
    const p = request(
      `GET http://a/ HTTP/1.1\r\n${flip("host", mask)}: a\r\n${flip("content-length", mask)}: 7\r\n` +
        `${flip("expect", mask)}: ${flip("100-continue", mask)}\r\n` +
        `${flip("connection", mask)}: ${flip("close", mask)}\r\n\r\n`,
    );
    assert.equal(p.hostCount, 1, `mask ${mask}`);
    assert.equal(p.contentLength, 7);
    assert.equal(p.expect, "100-continue");
    assert.ok(p.connClose && !p.connKeepAlive && !p.connUpgrade);
    const te = request(
      `GET http://a/ HTTP/1.0\r\n${flip("transfer-encoding", mask)}: chunked\r\n` +
        `${flip("proxy-connection", mask)}: ${flip("keep-alive", mask)}\r\n\r\n`,
    );
    assert.equal(te.teCount, 1);
    assert.ok(te.connKeepAlive && !te.connClose);
    const ka = request(
      `GET http://a/ HTTP/1.1\r\n${flip("connection", mask)}: ${flip("keep-alive", mask)}, Upgrade\r\n\r\n`,
    );
    assert.ok(ka.connKeepAlive && ka.connUpgrade && !ka.connClose);
  }
  // Same lengths, other names (a letter or a hyphen off by the case bit): not framing fields.
  const other = request(
    "GET http://a/ HTTP/1.1\r\nHosu: a\r\nContent-Lengtj: 7\r\nContent-Lengt8: 1\r\n\r\n",
  );
  assert.equal(other.hostCount, 0);
  assert.equal(other.contentLength, -1);
  const proxyUpgrade = request(
    "GET http://a/ HTTP/1.0\r\nProxy-Connection: upgrade, keep-alive\r\n\r\n",
  );
  assert.ok(
    proxyUpgrade.connKeepAlive && !proxyUpgrade.connUpgrade,
    "Proxy-Connection upgrades nothing",
  );
});
