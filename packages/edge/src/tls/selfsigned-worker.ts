// The thread tls-material.ts makes a self-signed certificate on: selfsigned (with
// @peculiar/x509, asn1js, tsyringe and reflect-metadata under it) loads here, and its modules
// and heap go when the thread ends, instead of staying in the process for good after one use.
// One request (workerData: the attributes and options), one answer: the PEMs or the error.

import { parentPort, workerData } from "node:worker_threads";
import type { generate } from "selfsigned";

type Args = Parameters<typeof generate>;
const { attrs, options } = workerData as { attrs: Args[0]; options: Args[1] };
try {
  const pems = await (await import("selfsigned")).generate(attrs, options);
  parentPort?.postMessage({ ok: true, cert: pems.cert, private: pems.private });
} catch (e) {
  parentPort?.postMessage({ ok: false, message: (e as Error).message });
}
