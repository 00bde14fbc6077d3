import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { readJsonArray, readLines } from "./stream-items.ts";

async function* chunks(buf: Buffer, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}
async function collect<T>(g: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of g) out.push(x);
  return out;
}

describe("readJsonArray", () => {
  it("matches JSON.parse for arrays of strings and numbers, whatever the chunking", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(fc.string({ maxLength: 20, unit: "grapheme" }), fc.integer()), {
          maxLength: 30,
        }),
        fc.integer({ min: 1, max: 17 }),
        async (arr, size) => {
          const buf = Buffer.from(JSON.stringify(arr, null, size % 3 === 0 ? 1 : undefined));
          const got = await collect(readJsonArray(chunks(buf, size), 1 << 20));
          assert.deepEqual(
            got.map((x) => x.value),
            arr,
          );
        },
      ),
      { numRuns: 200 },
    );
  });
  it("rejects what is not a flat array of strings and numbers", async () => {
    for (const bad of [
      '{"a":1}',
      "[1,]",
      "[[1]]",
      '["a" "b"]',
      "[1",
      "[01]",
      "[true]",
      '["a"] x',
      '["\u0001"]',
    ])
      await assert.rejects(
        collect(readJsonArray(chunks(Buffer.from(bad), 3), 1 << 20)),
        /malformed JSON array/,
        bad,
      );
  });
  it("refuses invalid UTF-8 split across chunks and bodies over the limit", async () => {
    const buf = Buffer.concat([Buffer.from('["a'), Buffer.from([0xe2, 0x82]), Buffer.from('"]')]);
    await assert.rejects(collect(readJsonArray(chunks(buf, 1), 1 << 20)), /UTF-8/);
    await assert.rejects(
      collect(readJsonArray(chunks(Buffer.from('["aaaa","bbbb"]'), 4), 8)),
      /too large/,
    );
  });
});

describe("readLines", () => {
  it("splits on LF and CRLF across chunk boundaries, keeps a last unterminated line", async () => {
    const text = "a\r\nbb\n\nccc\r\nd€\nlast";
    for (const size of [1, 2, 3, 5, 100]) {
      const got = await collect(readLines(chunks(Buffer.from(text), size), 1 << 20));
      assert.deepEqual(
        got.map((l) => l.line),
        ["a", "bb", "", "ccc", "d€", "last"],
      );
      assert.deepEqual(
        got.map((l) => l.no),
        [1, 2, 3, 4, 5, 6],
      );
    }
  });
  it("refuses over-long lines and invalid UTF-8", async () => {
    await assert.rejects(
      collect(readLines(chunks(Buffer.from("x".repeat(10_000)), 100), 1 << 20)),
      /too long/,
    );
    await assert.rejects(
      collect(readLines(chunks(Buffer.from([0x61, 0xff, 0x0a]), 1), 1 << 20)),
      /UTF-8/,
    );
  });
});
