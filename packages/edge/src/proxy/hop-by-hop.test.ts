import assert from "node:assert/strict";
import { test } from "node:test";
import { downstreamResponseHeaders, upstreamRequestHeaders } from "./hop-by-hop.ts";

test("request: hop-by-hop and Connection-named fields go, Host is the target, Via appended", () => {
  const out = upstreamRequestHeaders(
    [
      "Host",
      "wrong.example",
      "Connection",
      "keep-alive, X-Secret",
      "X-Secret",
      "s",
      "Keep-Alive",
      "timeout=5",
      "Proxy-Authorization",
      "Basic abc",
      "Proxy-Connection",
      "keep-alive",
      "TE",
      "trailers",
      "Transfer-Encoding",
      "chunked",
      "Upgrade",
      "h2c",
      "Expect",
      "100-continue",
      "Via",
      "1.0 first",
      "Accept",
      "*/*",
      "Cookie",
      "a=1",
    ],
    "right.example:8080",
    "1.1 gatehouse-x",
  );
  assert.deepEqual(out, [
    "host",
    "right.example:8080",
    "Accept",
    "*/*",
    "Cookie",
    "a=1",
    "via",
    "1.0 first, 1.1 gatehouse-x",
  ]);
});

test("response: same rules, repeated fields kept", () => {
  const out = downstreamResponseHeaders(
    [
      "Content-Type",
      "text/plain",
      "Connection",
      "close, X-Hop",
      "x-hop",
      "1",
      "Set-Cookie",
      "a=1",
      "set-cookie",
      "b=2",
      "Keep-Alive",
      "timeout=5",
      "Via",
      "1.1 origin-cache",
    ],
    "1.1 gatehouse-x",
  );
  assert.deepEqual(out, [
    "Content-Type",
    "text/plain",
    "Set-Cookie",
    "a=1",
    "set-cookie",
    "b=2",
    "via",
    "1.1 origin-cache, 1.1 gatehouse-x",
  ]);
});

test("Connection naming only hop-by-hop fields, or mixing them with others, removes exactly those", () => {
  // `keep-alive` alone (the usual origin response) and with a field it names.
  for (const value of ["keep-alive", "Keep-Alive", "KEEP-ALIVE", " keep-alive , upgrade "]) {
    assert.deepEqual(
      downstreamResponseHeaders(
        ["Connection", value, "Keep-Alive", "timeout=5", "Upgrade", "h2c", "Close", "kept"],
        "1.1 gh",
      ),
      ["Close", "kept", "via", "1.1 gh"],
      value,
    );
  }
  assert.deepEqual(
    upstreamRequestHeaders(
      ["Host", "a", "Connection", "Keep-Alive, X-Named", "x-named", "1", "Close", "kept"],
      "b.example",
      "1.1 gh",
    ),
    ["host", "b.example", "Close", "kept", "via", "1.1 gh"],
  );
  assert.deepEqual(
    downstreamResponseHeaders(["Connection", "close", "Close", "named"], "1.1 gh"),
    ["via", "1.1 gh"],
    "a field named by a token that is not hop-by-hop still goes",
  );
});
