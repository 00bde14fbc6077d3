import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { jsonDepthExceeds, parseJsonBody } from "./json-body.ts";

describe("strict JSON bodies", () => {
  it("parses ordinary JSON", () => {
    assert.deepEqual(parseJsonBody(Buffer.from('{"a":["b",1,{"c":"[["}]}')), {
      a: ["b", 1, { c: "[[" }],
    });
  });
  it("counts depth outside strings only", () => {
    assert.equal(jsonDepthExceeds('{"a":"[[[[[[[["}', 2), false);
    assert.equal(jsonDepthExceeds("[[[]]]", 2), true);
    assert.equal(jsonDepthExceeds('["\\"[[[["]', 1), false);
  });
  it("refuses invalid UTF-8, deep nesting, lone surrogates and NUL", () => {
    assert.throws(() => parseJsonBody(Buffer.from([0x22, 0xff, 0x22])), /UTF-8/);
    assert.throws(() => parseJsonBody(Buffer.from("[".repeat(65) + "]".repeat(65))), /nested/);
    assert.throws(() => parseJsonBody(Buffer.from('{"a":"\\udc00"}')), /well-formed/);
    assert.throws(() => parseJsonBody(Buffer.from('{"a\\u0000":1}')), /well-formed/);
    assert.throws(() => parseJsonBody(Buffer.from("{")), /malformed JSON/);
  });
});
