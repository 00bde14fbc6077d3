// The dashboard's API client without a browser: the bearer token from session storage, the
// API's error body as an ApiError (code, rule span, JSON pointer), a 401 signing the user out,
// failures to connect as a clear error; and the overview's bucketing of time series.

import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import {
  ApiError,
  api,
  clearToken,
  request,
  setToken,
  setUnauthorizedHandler,
  withQuery,
} from "../src/api.ts";
import { BUCKET_MS, bars } from "../src/series.ts";

interface Sent {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string | undefined;
}

/** A stand-in for the browser's sessionStorage and fetch, answering from `answer`. */
function fakeBrowser(answer: (sent: Sent) => Response | Promise<Response>): Sent[] {
  const store = new Map<string, string>();
  const sent: Sent[] = [];
  Object.assign(globalThis, {
    sessionStorage: {
      getItem: (k: string) => store.get(k) ?? null,
      setItem: (k: string, v: string) => store.set(k, v),
      removeItem: (k: string) => store.delete(k),
    },
    fetch: async (url: string, init: RequestInit) => {
      const s: Sent = {
        url,
        method: init.method ?? "GET",
        headers: init.headers as Record<string, string>,
        body: init.body as string | undefined,
      };
      sent.push(s);
      return answer(s);
    },
  });
  return sent;
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

describe("dashboard API client", () => {
  const realFetch = globalThis.fetch;
  let signedOut: string[];
  beforeEach(() => {
    signedOut = [];
    setUnauthorizedHandler((m) => signedOut.push(m));
  });
  afterEach(() => {
    globalThis.fetch = realFetch;
    Reflect.deleteProperty(globalThis, "sessionStorage");
  });

  it("sends the stored token as a bearer token, JSON bodies as JSON, list items as text", async () => {
    const sent = fakeBrowser(() => json(200, { ok: true }));
    setToken("ght_abc");
    assert.deepEqual(await api.post("/policies/validate", { type: "dns" }), { ok: true });
    await api.postText("/lists/l1/items", "a.example\nb.example\n");
    await api.get("/analytics/logs", { action: "block", client: "", cursor: undefined, limit: 50 });
    assert.equal(sent[0]!.url, "/api/v1/policies/validate");
    assert.equal(sent[0]!.method, "POST");
    assert.equal(sent[0]!.headers["authorization"], "Bearer ght_abc");
    assert.equal(sent[0]!.headers["content-type"], "application/json");
    assert.equal(sent[0]!.body, '{"type":"dns"}');
    assert.equal(sent[1]!.headers["content-type"], "text/plain; charset=utf-8");
    assert.equal(sent[1]!.body, "a.example\nb.example\n");
    // Empty and absent query values are left out.
    assert.equal(sent[2]!.url, "/api/v1/analytics/logs?action=block&limit=50");
    clearToken();
    await api.get("/whoami");
    assert.equal(sent[3]!.headers["authorization"], undefined);
  });

  it("a 422 rule error carries its code, message, span and path", async () => {
    fakeBrowser(() =>
      json(422, {
        error: {
          code: "GH_ERR_INVALID_RULE",
          message: "unknown list $socail",
          details: {
            kind: "UnknownIdentifier",
            span: { start: 22, length: 7 },
            path: "/expression",
          },
        },
      }),
    );
    const err = await api.post("/policies", {}).then(
      () => assert.fail("resolved"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ApiError);
    assert.equal(err.status, 422);
    assert.equal(err.code, "GH_ERR_INVALID_RULE");
    assert.equal(err.message, "unknown list $socail");
    assert.deepEqual(err.span, { start: 22, length: 7 });
    assert.equal(err.path, "/expression");
    assert.deepEqual(signedOut, []);
  });

  it("a schema error's first path; no span when the details have none", async () => {
    fakeBrowser(() =>
      json(400, {
        error: {
          code: "GH_ERR_BAD_REQUEST",
          message: "body/name must NOT have fewer than 1 characters",
          details: [{ path: "/name", message: "too short" }],
        },
      }),
    );
    const err = (await api.post("/lists", {}).catch((e: unknown) => e)) as ApiError;
    assert.equal(err.code, "GH_ERR_BAD_REQUEST");
    assert.equal(err.path, "/name");
    assert.equal(err.span, undefined);
  });

  it("401 signs out with the API's reason, except when checking a token at sign-in", async () => {
    fakeBrowser(() =>
      json(401, {
        error: { code: "GH_ERR_UNAUTHENTICATED", message: "invalid, expired or revoked token" },
      }),
    );
    setToken("ght_revoked");
    const err = (await api.get("/policies").catch((e: unknown) => e)) as ApiError;
    assert.equal(err.status, 401);
    assert.deepEqual(signedOut, ["invalid, expired or revoked token"]);
    await request("GET", "/whoami", { token: "ght_typo" }).catch(() => undefined);
    assert.equal(signedOut.length, 1);
  });

  it("a body that is not the API's error JSON still gives a clear error", async () => {
    fakeBrowser(
      () => new Response("<html>bad gateway</html>", { status: 502, statusText: "Bad Gateway" }),
    );
    const err = (await api.get("/edges").catch((e: unknown) => e)) as ApiError;
    assert.equal(err.code, "HTTP_502");
    assert.equal(err.message, "502 Bad Gateway");
  });

  it("204 resolves to nothing; a failed connection is GH_ERR_NETWORK", async () => {
    fakeBrowser(() => new Response(null, { status: 204 }));
    assert.equal(await api.del("/policies/p1"), undefined);
    fakeBrowser(() => {
      throw new TypeError("fetch failed");
    });
    const err = (await api.get("/policies").catch((e: unknown) => e)) as ApiError;
    assert.equal(err.code, "GH_ERR_NETWORK");
    assert.match(err.message, /Cannot reach control/);
  });

  it("withQuery encodes values", () => {
    assert.equal(withQuery("/x", { q: "a b&c", n: 0, f: false }), "/x?q=a+b%26c&n=0&f=false");
    assert.equal(withQuery("/x", {}), "/x");
  });
});

describe("overview bars", () => {
  it("one bar per bucket of the range, gaps included; other actions grouped", () => {
    const h = BUCKET_MS.hour;
    const from = Date.UTC(2026, 0, 1, 10, 30);
    const to = from + 3 * h;
    const b = bars(
      {
        bucket: "hour",
        by: "action",
        points: [
          { t: Date.UTC(2026, 0, 1, 10), key: "allow", count: 5 },
          { t: Date.UTC(2026, 0, 1, 10), key: "block", count: 2 },
          { t: Date.UTC(2026, 0, 1, 12), key: "refused", count: 1 },
          { t: Date.UTC(2026, 0, 1, 12), key: null, count: 3 },
        ],
      },
      from,
      to,
      h,
    );
    assert.deepEqual(b, [
      { t: Date.UTC(2026, 0, 1, 10), allow: 5, block: 2, other: 0 },
      { t: Date.UTC(2026, 0, 1, 11), allow: 0, block: 0, other: 0 },
      { t: Date.UTC(2026, 0, 1, 12), allow: 0, block: 0, other: 4 },
      { t: Date.UTC(2026, 0, 1, 13), allow: 0, block: 0, other: 0 },
    ]);
  });
});
