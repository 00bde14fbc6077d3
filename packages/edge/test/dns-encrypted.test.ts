// DoT (RFC 7858) and DoH (RFC 8484: GET, POST, JSON; HTTP/1.1 and HTTP/2) with the certificate
// the edge generates into its data directory on first run.

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { connect as h2connect } from "node:http2";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { dohTokenDigest } from "@gatehouse/contract/secrets";
import { Rcode } from "../src/dns/wire/constants.ts";
import { decodeMessage } from "../src/dns/wire/message.ts";
import { type Edge, startEdge } from "../src/main.ts";
import { a, buildQuery, type FakeUpstream, startFakeUpstream } from "./dns-helpers.ts";

const vectors = JSON.parse(
  readFileSync(new URL("./fixtures/dns-wire-vectors.json", import.meta.url), "utf8"),
);

/** A device's DoH token: the bundle carries only its SHA-256. */
const DEVICE_TOKEN = "Zk9vYmFyYmF6cXV4LWRldmljZS10b2tlbi0wMDAwMDE";

describe("DoT and DoH", () => {
  let up: FakeUpstream;
  let edge: Edge;
  let ca: string;
  let dotPort: number;
  let dohPort: number;
  const lines: string[] = [];
  before(async () => {
    up = await startFakeUpstream(
      new Map([["www.example.com/1", { answers: [a("www.example.com", "192.0.2.80", 120)] }]]),
    );
    edge = await startEdge({
      config: {
        resolver: { upstreams: [{ address: up.address }], dnssec: { validate: false } },
        locations: [
          { id: "lo", name: "Loopback", networks: ["127.0.0.1/32"] },
          {
            id: "tok",
            name: "Token location",
            networks: [],
            dohToken: "secret-token-1",
            dotLabel: "branch",
          },
        ],
        lists: [],
        identities: {
          users: [{ id: "u1", email: "kim@example.com" }],
          devices: [
            {
              id: "dev1",
              name: "kims-phone",
              credentialHash: "scrypt$16384$8$1$AAAA$AAAA",
              userId: "u1",
              locationId: "tok",
              dohTokenSha256: dohTokenDigest(DEVICE_TOKEN),
            },
          ],
        },
        policies: [
          {
            id: "p1",
            name: "Branch only",
            type: "dns",
            enabled: true,
            precedence: 1,
            expression: 'dns.location == "tok" and dns.fqdn == "www.example.com"',
            action: "block",
          },
        ],
        edge: {
          dns: { dot: ["127.0.0.1:0"], doh: ["127.0.0.1:0"] },
          dataDir: mkdtempSync(join(tmpdir(), "gh-edge-")),
        },
      },
      log: (l) => lines.push(l),
    });
    ca = readFileSync(edge.tlsCertFile!, "utf8");
    dotPort = Number(edge.addresses.dns.dot[0]!.split(":").pop());
    dohPort = Number(edge.addresses.dns.doh[0]!.split(":").pop());
  });
  after(async () => {
    await edge.close();
    await up.close();
  });

  test("the generated certificate's path is printed", () => {
    assert.ok(lines.some((l) => l.includes(edge.tlsCertFile!)));
  });

  function dot(servername: string, q: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const s = tlsConnect({
        host: "127.0.0.1",
        port: dotPort,
        ca,
        servername,
        checkServerIdentity: () => undefined,
      });
      let buf = Buffer.alloc(0);
      s.on("error", reject);
      s.on("data", (c: Buffer) => {
        buf = Buffer.concat([buf, c]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          resolve(buf.subarray(2, 2 + buf.readUInt16BE(0)));
          s.end();
        }
      });
      const f = Buffer.alloc(2 + q.length);
      f.writeUInt16BE(q.length);
      q.copy(f, 2);
      s.write(f);
    });
  }

  test("DoT answers; the SNI label selects the location", async () => {
    const plain = decodeMessage(await dot("localhost", buildQuery("www.example.com")));
    assert.equal(plain.answers[0]?.data, "192.0.2.80");
    const branch = decodeMessage(await dot("branch.dot.localhost", buildQuery("www.example.com")));
    assert.equal(branch.answers[0]?.data, "0.0.0.0");
  });

  function h1(
    path: string,
    method = "GET",
    body?: Buffer,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        { host: "127.0.0.1", port: dohPort, path, method, ca, headers, servername: "localhost" },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () =>
            resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }),
          );
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  }

  test("DoH over HTTP/1.1: the RFC 8484 GET and POST examples, JSON, errors", async () => {
    for (const r of vectors.doh_rfc8484.requests as {
      method: string;
      path: string;
      body_hex?: string;
      headers: Record<string, string>;
    }[]) {
      const res = await h1(
        r.path,
        r.method,
        r.body_hex ? Buffer.from(r.body_hex, "hex") : undefined,
        r.headers ?? {},
      );
      assert.equal(res.status, 200, r.path);
      assert.equal(res.headers["content-type"], "application/dns-message");
      const m = decodeMessage(res.body);
      assert.equal(m.id, 0, "the ID is echoed (0 in DoH)");
      assert.equal(m.qr, true);
    }
    const get = await h1(vectors.doh_rfc8484.requests[0].path);
    assert.equal(decodeMessage(get.body).answers[0]?.data, "192.0.2.80");
    assert.match(String(get.headers["cache-control"]), /^max-age=(\d+)$/);
    assert.ok(Number(String(get.headers["cache-control"]).slice(8)) <= 120);
    const json = await h1("/dns-query?name=www.example.com&type=A", "GET", undefined, {
      accept: "application/dns-json",
    });
    assert.equal(json.headers["content-type"], "application/dns-json");
    const j = JSON.parse(json.body.toString());
    assert.equal(j.Status, Rcode.NOERROR);
    assert.equal(j.Answer[0].data, "192.0.2.80");
    assert.equal((await h1("/dns-query?dns=AAAB==")).status, 400, "padding is rejected");
    assert.equal(
      (await h1("/dns-query", "POST", Buffer.from("x"), { "content-type": "text/plain" })).status,
      415,
    );
    assert.equal((await h1("/elsewhere")).status, 404);
    const tok = await h1(
      `/dns-query/secret-token-1?dns=${buildQuery("www.example.com", { edns: false, id: 0 }).toString("base64url")}`,
    );
    assert.equal(decodeMessage(tok.body).answers[0]?.data, "0.0.0.0", "token selects the location");
  });

  test("DoH with a device's token: the device's location applies and the log names the device", async () => {
    const q = buildQuery("www.example.com", { edns: false, id: 0 }).toString("base64url");
    const res = await h1(`/dns-query/${DEVICE_TOKEN}?dns=${q}`);
    assert.equal(res.status, 200);
    assert.equal(decodeMessage(res.body).answers[0]?.data, "0.0.0.0", "the device's location");
    const rec = edge.queryLog.peekNewest(10).find((r) => r.transport === "doh" && r.device);
    assert.equal(rec?.device, "kims-phone");
    assert.equal(rec?.identity, "kim@example.com", "the owner");
    assert.equal(rec?.location, "tok");
    // A token no location or device has is refused whatever the source network.
    const wrong = await h1(`/dns-query/${DEVICE_TOKEN.slice(0, -1)}A?dns=${q}`);
    assert.equal(decodeMessage(wrong.body).rcode, Rcode.REFUSED);
    // The digest itself is not a token.
    const digest = await h1(`/dns-query/${dohTokenDigest(DEVICE_TOKEN)}?dns=${q}`);
    assert.equal(decodeMessage(digest.body).rcode, Rcode.REFUSED);
  });

  test("DoH over HTTP/2 POST", async () => {
    const client = h2connect(`https://127.0.0.1:${dohPort}`, { ca, servername: "localhost" });
    try {
      const body = await new Promise<Buffer>((resolve, reject) => {
        const req = client.request({
          ":method": "POST",
          ":path": "/dns-query",
          "content-type": "application/dns-message",
          accept: "application/dns-message",
        });
        const chunks: Buffer[] = [];
        req.on("response", (h) => assert.equal(h[":status"], 200));
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => resolve(Buffer.concat(chunks)));
        req.on("error", reject);
        req.end(buildQuery("www.example.com"));
      });
      assert.equal(decodeMessage(body).answers[0]?.data, "192.0.2.80");
    } finally {
      client.close();
    }
  });
});
