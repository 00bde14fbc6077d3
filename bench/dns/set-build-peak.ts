// What building a 1M-name DomainSet holds beyond the set it leaves, as a synced edge builds one
// during a config swap: the names arrive in one packed buffer ("\n" between them, as
// sync/bundle-stream.ts decodes a bundle's items) that the builder adopts as its arena.
// Array-buffer bytes (process.memoryUsage) are sampled after the names are added and at every
// slice of the build; the transient is the peak above the packed buffer minus what the built
// set still holds (its table and length bytes) after two collections.
//
// Usage: node --expose-gc bench/dns/set-build-peak.ts [ROOT] (a tree: ".", /work/before, …)

import { resolve } from "node:path";

const root = resolve(process.argv[2] ?? ".");
const { DomainSetBuilder } = (await import(
  `${root}/packages/edge/src/lists/domain-set.ts`
)) as typeof import("../../packages/edge/src/lists/domain-set.ts");
const gc = globalThis.gc;
if (!gc) throw new Error("run with --expose-gc");

const N = 1_000_000;
const names: string[] = [];
for (let i = 0; i < N; i++) names.push(`ad${i}.tracker${i % 997}.example`);
let text: Buffer | undefined = Buffer.from(names.join("\n"));
names.length = 0;
const packed = new Uint8Array(Buffer.allocUnsafeSlow(text.length).buffer, 0, text.length);
packed.set(text);
text = undefined;
gc();
gc();

const base = process.memoryUsage().arrayBuffers;
let peak = 0;
const sample = () => {
  peak = Math.max(peak, process.memoryUsage().arrayBuffers);
};
// As list-set.ts builds an adopted list: no arena of its own, the names counted.
const b = new DomainSetBuilder({ bytes: 0, names: N });
b.adopt(packed);
let start = 0;
for (let i = 0; i <= packed.length; i++) {
  if (i === packed.length || packed[i] === 10) {
    b.addBytes(packed, start, i);
    b.consumed(packed, i);
    start = i + 1;
  }
}
sample();
const steps = b.buildSteps();
let r = steps.next();
while (!r.done) {
  sample();
  r = steps.next();
}
sample();
const set = r.value;
gc();
gc();
const held = process.memoryUsage().arrayBuffers - base;
const mb = (x: number) => (x / 1048576).toFixed(1);
console.log(
  `${root}: ${set.size} names, packed ${mb(packed.length)} MB; build peak +${mb(peak - base)} MB; ` +
    `the set's table and lengths +${mb(held)} MB; transient ${mb(peak - base - held)} MB`,
);
