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
