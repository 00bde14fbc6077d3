// `gatehouse up` on free loopback ports for end-to-end tests, with its admin token and an API
// caller; a local HTTP server for lists; running `gatehouse import` against it.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { api, freePort, type Running, runCli } from "./processes.ts";

export interface Up {
  readonly up: Running;
  readonly dnsPort: number;
  readonly apiUrl: string;
  readonly token: string;
  readonly call: ReturnType<typeof api>;
}

export async function startUp(dir: string): Promise<Up> {
  const dnsPort = await freePort();
  const apiPort = await freePort();
  const up = runCli([
    "up",
    "--data-dir",
    join(dir, "data"),
    "--dns",
    `127.0.0.1:${dnsPort}`,
    "--proxy",
    `127.0.0.1:${await freePort()}`,
    "--api",
    `127.0.0.1:${apiPort}`,
    "--metrics",
    `127.0.0.1:${await freePort()}`,
    // Not 853 and 443: tests that run at the same time would race for them.
    "--dot",
    `127.0.0.1:${await freePort()}`,
    "--doh",
    `127.0.0.1:${await freePort()}`,
  ]);
  const [, token] = await up.waitFor(/Admin token \(shown once, keep it\): (\S+)/);
  await up.waitFor(/Ctrl-C stops everything/);
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  return { up, dnsPort, apiUrl, token: token!, call: api(apiUrl, token!) };
}

/** An HTTP server on loopback answering with `body` (a list to subscribe to), or `body(path)`. */
export async function serveText(
  body: string | ((path: string) => string),
): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end(typeof body === "string" ? body : body(req.url ?? "/"));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** `gatehouse import PRODUCT FILE …` against `u`; its exit code and output. */
export async function runImport(u: Up, product: string, file: string, ...extra: string[]) {
  const p = runCli(["import", product, file, "--control", u.apiUrl, ...extra], {
    GATEHOUSE_TOKEN: u.token,
  });
  const code = await p.stop("SIGCONT");
  return { code, out: p.output() };
}

/** Fetch every subscribed list now (control's own loop runs once a minute), then publish. */
export async function refreshSubscriptions(u: Up, prefix: string): Promise<string[]> {
  const all = await u.call<{ items: { id: string; name: string }[] }>("GET", "/lists?limit=1000");
  const out: string[] = [];
  for (const l of all.body.items.filter((x) => x.name.startsWith(prefix))) {
    const r = await u.call<{ status: string }>("GET", `/lists/${l.id}/subscription`);
    if (r.status !== 200) continue;
    const f = await u.call<{ status: string }>("POST", `/lists/${l.id}/subscription/refresh`);
    out.push(`${l.name}: ${f.body.status}`);
  }
  await u.call("POST", "/config/publish", {});
  return out;
}
