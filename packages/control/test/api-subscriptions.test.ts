// List subscriptions: fetch with ETag, 304 keeps items, failures and broken copies keep the
// last good items, size limit. A local HTTP server plays the list publisher.

import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { after, before, describe, it } from "node:test";
import { BACKENDS, call, closeSharedPglite, openTestApp, type TestApp } from "./helpers.ts";

after(closeSharedPglite);

interface Origin {
  status: number;
  body: string;
  etag: string;
  requests: { ifNoneMatch: string | undefined }[];
}

for (const b of BACKENDS) {
  describe(`list subscriptions (${b.name})`, { skip: b.skip }, () => {
    let t: TestApp;
    let server: Server;
    let base = "";
    let listId = "";
    const origin: Origin = { status: 200, body: "", etag: '"v1"', requests: [] };
    const api = (method: string, url: string, body?: unknown) =>
      call(t.app, t.token, method as "GET", `/api/v1${url}`, body);
    const items = async () =>
      (await api("GET", `/lists/${listId}/items?limit=1000`)).json().items as string[];

    before(async () => {
      t = await openTestApp(b.name, { subscriptionTickMs: 0 });
      server = createServer((req, res) => {
        const inm = req.headers["if-none-match"];
        origin.requests.push({ ifNoneMatch: typeof inm === "string" ? inm : undefined });
        if (origin.status === 200 && inm === origin.etag) {
          res.writeHead(304).end();
          return;
        }
        res
          .writeHead(origin.status, { etag: origin.etag, "content-type": "text/plain" })
          .end(origin.body);
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
      listId = (await api("POST", "/lists", { name: "feed", type: "domain" })).json().id;
    });
    after(async () => {
      await t?.close();
      await new Promise((r) => server?.close(r));
    });

    it("fetches a hosts file into the list, then revalidates with If-None-Match", async () => {
      origin.body = "# feed\n0.0.0.0 one.example\n0.0.0.0 two.example\n||three.example^\n";
      const s = await api("PUT", `/lists/${listId}/subscription`, {
        url: `${base}/hosts.txt`,
        refreshSeconds: 3600,
      });
      assert.equal(s.statusCode, 200, s.body);
      assert.equal((await api("GET", `/lists/${listId}`)).json().subscribed, true);
      const r = await api("POST", `/lists/${listId}/subscription/refresh`);
      assert.equal(r.statusCode, 200, r.body);
      assert.equal(r.json().status, "updated");
      assert.deepEqual(await items(), ["one.example", "three.example", "two.example"]);
      const again = await api("POST", `/lists/${listId}/subscription/refresh`);
      assert.equal(again.json().status, "not-modified");
      assert.equal(origin.requests.at(-1)!.ifNoneMatch, '"v1"');
      const view = (await api("GET", `/lists/${listId}/subscription`)).json();
      assert.equal(view.etag, '"v1"');
      assert.equal(view.lastError, null);
    });

    it("keeps the last good items when the fetch fails, the copy is empty or mostly garbage", async () => {
      origin.etag = '"v2"';
      for (const [status, body] of [
        [500, "oops"],
        [200, "# nothing here\n"],
        [200, "<html>\n<body>\nnot a list\n</body>\n</html>\nok.example\n"],
      ] as const) {
        origin.status = status;
        origin.body = body;
        const r = await api("POST", `/lists/${listId}/subscription/refresh`);
        assert.equal(r.statusCode, 502, `${status} ${body}: ${r.body}`);
        assert.deepEqual(await items(), ["one.example", "three.example", "two.example"]);
      }
      assert.match(
        (await api("GET", `/lists/${listId}/subscription`)).json().lastError,
        /lines do not parse/,
      );
    });

    it("refuses a copy over the size limit and keeps the items", async () => {
      origin.status = 200;
      origin.etag = '"v3"';
      origin.body = "a.example\n".repeat(300);
      await api("PUT", `/lists/${listId}/subscription`, { url: `${base}/big.txt`, maxBytes: 1024 });
      const r = await api("POST", `/lists/${listId}/subscription/refresh`);
      assert.equal(r.statusCode, 502, r.body);
      assert.match(r.json().error.message, /limit|too large/);
      assert.deepEqual(await items(), ["one.example", "three.example", "two.example"]);
    });

    it("refreshes due subscriptions in the background tick and can be removed", async () => {
      origin.body = "new.example\n";
      origin.etag = '"v4"';
      await api("PUT", `/lists/${listId}/subscription`, {
        url: `${base}/plain.txt`,
        format: "plain",
      });
      await t.app.gatehouse.subscriptions.tick();
      assert.deepEqual(await items(), ["new.example"]);
      assert.equal(
        (await api("GET", "/audit?action=items.refresh")).json().items[0].actor,
        "subscription",
      );
      assert.equal((await api("DELETE", `/lists/${listId}/subscription`)).statusCode, 204);
      assert.equal((await api("GET", `/lists/${listId}/subscription`)).statusCode, 404);
      const bad = await api("PUT", `/lists/${listId}/subscription`, { url: "file:///etc/passwd" });
      assert.equal(bad.statusCode, 400);
    });
  });
}
