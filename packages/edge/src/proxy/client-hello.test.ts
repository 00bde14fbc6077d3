import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { test } from "node:test";
import { connect as tlsConnect } from "node:tls";
import fc from "fast-check";
import { parseClientHello } from "./client-hello.ts";

const vectors = JSON.parse(
  readFileSync(
    new URL("../../test/fixtures/tls-clienthello-vectors.json", import.meta.url),
    "utf8",
  ),
) as { vectors: { name: string; hex: string }[] };

function vec(name: string): Buffer {
  return Buffer.from(vectors.vectors.find((v) => v.name === name)!.hex, "hex");
}

test("sniproxy vectors: good SNI, other name, truncated record", () => {
  assert.deepEqual(parseClientHello(vec("good_data_1")), { status: "ok", sni: "localhost" });
  assert.deepEqual(parseClientHello(vec("bad_data_1")), { status: "ok", sni: "lodalhost" });
  // The record header claims more bytes than present: wait for more, never guess.
  assert.equal(parseClientHello(vec("bad_data_2")).status, "incomplete");
});

test("every prefix of a ClientHello is incomplete, never a wrong answer", () => {
  const full = vec("good_data_1");
  for (let n = 1; n < full.length; n++)
    assert.equal(parseClientHello(full.subarray(0, n)).status, "incomplete", `prefix ${n}`);
});

test("non-TLS first bytes are recognised", () => {
  assert.equal(parseClientHello(Buffer.from("GET / HTTP/1.1\r\n")).status, "not_tls");
  assert.equal(parseClientHello(Buffer.from([0x80, 0x2e, 0x01])).status, "not_tls"); // SSLv2 hello
});

test("a ClientHello split across two TLS records is reassembled", () => {
  const full = vec("good_data_1");
  const body = full.subarray(5);
  const rec = (b: Buffer) =>
    Buffer.concat([Buffer.from([22, 3, 1, b.length >> 8, b.length & 255]), b]);
  const split = Buffer.concat([rec(body.subarray(0, 30)), rec(body.subarray(30))]);
  assert.deepEqual(parseClientHello(split), { status: "ok", sni: "localhost" });
  // Only the first record so far: incomplete.
  assert.equal(parseClientHello(rec(body.subarray(0, 30))).status, "incomplete");
});

test("malformed hellos are reported, not misread", () => {
  const full = Buffer.from(vec("good_data_1"));
  // Not a ClientHello handshake type.
  const wrongType = Buffer.from(full);
  wrongType[5] = 2;
  assert.equal(parseClientHello(wrongType).status, "malformed");
  // Non-LDH byte in the name.
  const badName = Buffer.from(full);
  badName[badName.length - 1] = 0x00;
  assert.equal(parseClientHello(badName).status, "malformed");
  // Zero-length record.
  assert.equal(parseClientHello(Buffer.from([22, 3, 1, 0, 0])).status, "malformed");
});

async function captureHello(servername: string | undefined): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const srv = createServer((sock) => {
      const chunks: Buffer[] = [];
      sock.on("data", (c: Buffer) => {
        chunks.push(c);
        const all = Buffer.concat(chunks);
        if (parseClientHello(all).status !== "incomplete") {
          sock.destroy();
          srv.close();
          resolve(all);
        }
      });
    });
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as AddressInfo;
      const c = tlsConnect({
        host: "127.0.0.1",
        port,
        ...(servername ? { servername } : {}),
        rejectUnauthorized: false,
      });
      c.on("error", () => {});
    });
    srv.on("error", reject);
  });
}

test("a real ClientHello from node:tls (TLS 1.3 key shares, many extensions)", async () => {
  const hello = await captureHello("Example.ORG");
  assert.deepEqual(parseClientHello(hello), { status: "ok", sni: "example.org" });
  // Byte-at-a-time arrival still ends in the same answer.
  for (let n = 1; n < hello.length; n += 37)
    assert.equal(parseClientHello(hello.subarray(0, n)).status, "incomplete");
});

test("a real ClientHello without SNI (IP literal target)", async () => {
  const hello = await captureHello(undefined);
  assert.deepEqual(parseClientHello(hello), { status: "ok", sni: undefined });
});

test("arbitrary and mutated input never throws and never reads past the buffer", () => {
  const good = vec("good_data_1");
  const statuses = new Set(["incomplete", "not_tls", "malformed", "ok"]);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 700 }), (b) => {
      assert.ok(statuses.has(parseClientHello(b).status));
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(
      fc.nat(good.length - 1),
      fc.integer({ min: 0, max: 255 }),
      fc.nat(good.length),
      (i, v, cut) => {
        const m = Buffer.from(good);
        m[i] = v;
        const r = parseClientHello(m.subarray(0, cut));
        assert.ok(statuses.has(r.status));
        if (r.status === "ok" && r.sni !== undefined) assert.match(r.sni, /^[a-z0-9._-]+$/);
      },
    ),
    { numRuns: 5000 },
  );
});
