// Hostile input changes nothing: SQL metacharacters, 1 MB names, invalid UTF-8, lone
// surrogates, NUL, deeply nested JSON, oversized and mistyped bodies get 400/413/415/422 and
// leave the store as it was. Also: the OpenAPI document and the docs page are served.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { BACKENDS, call, closeSharedPglite, openTestApp, type TestApp } from "./helpers.ts";

after(closeSharedPglite);

for (const b of BACKENDS) {
  describe(`hostile input (${b.name})`, { skip: b.skip }, () => {
    let t: TestApp;
    let listId = "";
    const api = (method: string, url: string, body?: unknown, headers?: Record<string, string>) =>
      call(t.app, t.token, method as "GET", `/api/v1${url}`, body, headers);
    const snapshot = async () => {
      const db = t.app.gatehouse.db;
      const count = async (
        table: "policies" | "lists" | "list_items" | "locations" | "audit_log",
      ) =>
        Number(
          (await db.selectFrom(table).select(db.fn.countAll().as("n")).executeTakeFirstOrThrow()).n,
        );
      return {
        policies: await count("policies"),
        lists: await count("lists"),
        items: await count("list_items"),
        locations: await count("locations"),
        audit: await count("audit_log"),
      };
    };
    before(async () => {
      t = await openTestApp(b.name);
      listId = (
        await api("POST", "/lists", { name: "l", type: "domain", items: ["a.example"] })
      ).json().id;
    });
    after(async () => t?.close());

    const cases: {
      name: string;
      method: string;
      url: string;
      body: string | Buffer;
      type?: string;
      status: number[];
    }[] = [
      {
        name: "SQL in a list name",
        method: "POST",
        url: "/lists",
        body: JSON.stringify({ name: "x'; drop table lists; --", type: "domain" }),
        status: [400],
      },
      {
        name: "SQL in an expression",
        method: "POST",
        url: "/policies",
        body: JSON.stringify({
          name: "x",
          type: "dns",
          expression: "1=1; drop table policies; --",
          action: "block",
        }),
        status: [422],
      },
      {
        name: "SQL in an id",
        method: "GET",
        url: "/policies/x';drop%20table%20policies;--",
        body: "",
        status: [400, 404],
      },
      {
        name: "1 MB name",
        method: "POST",
        url: "/policies",
        body: JSON.stringify({
          name: "n".repeat(1_000_000),
          type: "dns",
          expression: 'dns.fqdn == "x"',
          action: "block",
        }),
        status: [400, 413],
      },
      {
        name: "2 MB body",
        method: "POST",
        url: "/locations",
        body: JSON.stringify({ name: "x", networks: Array(200_000).fill("10.0.0.1") }),
        status: [413],
      },
      {
        name: "invalid UTF-8 in JSON",
        method: "POST",
        url: "/locations",
        body: Buffer.concat([
          Buffer.from('{"name":"'),
          Buffer.from([0xc3, 0x28, 0xff]),
          Buffer.from('"}'),
        ]),
        status: [400],
      },
      {
        name: "lone surrogate",
        method: "POST",
        url: "/locations",
        body: '{"name":"\\ud800"}',
        status: [400],
      },
      {
        name: "NUL in a string",
        method: "POST",
        url: "/locations",
        body: '{"name":"a\\u0000b"}',
        status: [400],
      },
      {
        name: "deeply nested JSON",
        method: "POST",
        url: "/locations",
        body: `${"[".repeat(100_000)}${"]".repeat(100_000)}`,
        status: [400, 413],
      },
      {
        name: "nested objects in a field",
        method: "POST",
        url: "/locations",
        body: `{"name":${'{"a":'.repeat(60)}1${"}".repeat(60)}}`,
        status: [400],
      },
      {
        name: "malformed JSON",
        method: "POST",
        url: "/locations",
        body: '{"name": "x",',
        status: [400],
      },
      {
        name: "unknown property",
        method: "POST",
        url: "/locations",
        body: '{"name":"x","admin":true}',
        status: [400],
      },
      {
        name: "wrong content type",
        method: "POST",
        url: "/locations",
        body: "<name>x</name>",
        type: "application/xml",
        status: [415],
      },
      {
        name: "invalid UTF-8 in list text",
        method: "POST",
        url: "/lists/LIST/items",
        body: Buffer.from([0x61, 0x2e, 0x65, 0x0a, 0xfe, 0xfe, 0x0a]),
        type: "text/plain",
        status: [400],
      },
      {
        name: "object in a JSON item array",
        method: "POST",
        url: "/lists/LIST/items",
        body: '["b.example", {"x": 1}]',
        status: [400],
      },
      {
        name: "unterminated item array",
        method: "POST",
        url: "/lists/LIST/items",
        body: '["b.example", "c.exa',
        status: [400],
      },
      {
        name: "invalid UTF-8 in a YAML import",
        method: "PUT",
        url: "/config/export",
        body: Buffer.from([0x6b, 0x3a, 0x20, 0xff]),
        type: "application/yaml",
        status: [400],
      },
      {
        name: "YAML alias bomb",
        method: "PUT",
        url: "/config/export",
        body: `a: &a ["x","x"]\nb: &b [${Array(200).fill("*a").join(",")}]\nc: [${Array(200).fill("*b").join(",")}]\n`,
        type: "application/yaml",
        status: [400, 422],
      },
      {
        name: "bad cursor",
        method: "GET",
        url: "/policies?cursor=%00%01",
        body: "",
        status: [400],
      },
      {
        name: "limit out of range",
        method: "GET",
        url: "/policies?limit=100000",
        body: "",
        status: [400],
      },
    ];

    for (const c of cases)
      it(`${c.name} → ${c.status.join("/")} and no change`, async () => {
        const before = await snapshot();
        const res = await t.app.inject({
          method: c.method as "POST",
          url: `/api/v1${c.url.replace("LIST", listId)}`,
          headers: {
            authorization: `Bearer ${t.token}`,
            ...(c.body.length ? { "content-type": c.type ?? "application/json" } : {}),
          },
          ...(c.body.length ? { payload: c.body } : {}),
        });
        assert.ok(
          c.status.includes(res.statusCode),
          `${c.name}: got ${res.statusCode} ${res.body.slice(0, 300)}`,
        );
        assert.match(res.json().error.code, /^GH_ERR_/);
        assert.deepEqual(await snapshot(), before);
      });

    it("stores SQL metacharacters in free text verbatim (parameterised, never spliced)", async () => {
      const name = "Robert'); DROP TABLE policies;-- \" \\ %_";
      const r = await api("POST", "/policies", {
        name,
        type: "dns",
        expression: 'dns.fqdn == "x\'; --"',
        action: "block",
      });
      assert.equal(r.statusCode, 201, r.body);
      assert.equal((await api("GET", `/policies/${r.json().id}`)).json().name, name);
    });

    it("serves OpenAPI 3.1 describing every guarded route, and the docs page", async () => {
      const r = await call(t.app, undefined, "GET", "/api/v1/openapi.json");
      assert.equal(r.statusCode, 200);
      const doc = r.json();
      assert.equal(doc.openapi, "3.1.0");
      const paths = Object.keys(doc.paths);
      for (const route of t.app.gatehouse.routes.filter(
        (x) => x.access !== "public" && x.method !== "HEAD",
      )) {
        const p = route.url.replace(/:(\w+)/g, "{$1}");
        assert.ok(paths.includes(p), `${route.url} missing from OpenAPI`);
        assert.ok(
          doc.paths[p][route.method.toLowerCase()],
          `${route.method} ${route.url} missing from OpenAPI`,
        );
      }
      assert.ok(doc.paths["/api/v1/policies"].post.requestBody, "bodies carry their schema");
      const docs = await call(t.app, undefined, "GET", "/api/v1/docs/");
      assert.equal(docs.statusCode, 200);
      assert.match(docs.body, /swagger/i);
    });
  });
}
