// Listen addresses for `gatehouse up`: a default port that is taken falls back to the next free
// one (and says so); a port the user chose is never changed — it binds, or the start stops with
// one line naming the address and the flag.

import { createSocket } from "node:dgram";
import { createServer, isIP } from "node:net";
import { isLoopbackHost } from "@gatehouse/contract";
import { joinHostPort, splitHostPort } from "@gatehouse/edge";

/** One listener `up` opens: what it is, its flag, and whether it needs UDP as well as TCP. */
export interface ListenerSpec {
  readonly what: string;
  readonly flag: string;
  readonly udp?: boolean;
}

/** Ports above a taken default tried before an ephemeral one. */
const FALLBACK_TRIES = 100;

/** Why host:port cannot be bound right now (an errno code such as EADDRINUSE), or undefined. */
async function bindProblem(host: string, port: number, udp = false): Promise<string | undefined> {
  const tcp = await new Promise<string | undefined>((res) => {
    const s = createServer();
    s.once("error", (e: NodeJS.ErrnoException) => res(e.code ?? "EINVAL"));
    s.listen({ host, port, exclusive: true }, () => s.close(() => res(undefined)));
  });
  if (tcp !== undefined || !udp) return tcp;
  return new Promise<string | undefined>((res) => {
    const u = createSocket(isIP(host) === 6 ? "udp6" : "udp4");
    u.once("error", (e: NodeJS.ErrnoException) => {
      u.close();
      res(e.code ?? "EINVAL");
    });
    u.bind({ address: host, port, exclusive: true }, () => u.close(() => res(undefined)));
  });
}

function reason(code: string, port: number): string {
  if (code === "EADDRINUSE") return "is taken by another program";
  if (code === "EACCES")
    return port < 1024 ? "needs privileges (a port below 1024)" : "may not be bound (EACCES)";
  if (code === "EADDRNOTAVAIL") return "is not an address of this machine";
  return `cannot be bound (${code})`;
}

/** The one-line error for an address the user chose that cannot be bound. */
function chosenAddressError(spec: ListenerSpec, address: string, code: string): Error {
  const { port } = splitHostPort(address);
  return new Error(
    `${address} for the ${spec.what} (${spec.flag}) ${reason(code, port)}; choose another port with ${spec.flag} ADDR:PORT`,
  );
}

/** A chosen address: returned when it binds now (port 0 always does), else a clear error. */
export async function checkChosen(spec: ListenerSpec, address: string): Promise<string> {
  const { host, port } = splitHostPort(address);
  if (port === 0) return address;
  const code = await bindProblem(host, port, spec.udp);
  if (code !== undefined) throw chosenAddressError(spec, address, code);
  return address;
}

/** Why `port` cannot be bound on one of `hosts` right now, or undefined when it binds on all. */
async function bindProblemOnAll(
  hosts: readonly string[],
  port: number,
  udp: boolean | undefined,
): Promise<string | undefined> {
  for (const h of hosts) {
    const code = await bindProblem(h, port, udp);
    if (code !== undefined) return code;
  }
  return undefined;
}

/**
 * A default address: the first of `ports` that binds (on every one of `host`, when several
 * addresses are given: one port for all of them); else the next free port above the last (up to
 * 100 tried), else an ephemeral one. `note` says why the first was not used and which port was,
 * with the flag to choose one. `avoid` holds ports already given to other listeners. `address`
 * is on the first host; `addresses` on each.
 */
export async function pickDefault(
  spec: ListenerSpec,
  host: string | readonly string[],
  ports: readonly number[],
  avoid: Set<number>,
): Promise<{ address: string; addresses: string[]; note?: string }> {
  const hosts = typeof host === "string" ? [host] : host;
  const [first, ...others] = ports;
  const [firstHost] = hosts;
  const last = ports.at(-1);
  if (first === undefined || last === undefined || firstHost === undefined)
    throw new Error(`internal: ${spec.what} has no default port or no host to listen on`);
  const firstCode = avoid.has(first)
    ? "EADDRINUSE"
    : await bindProblemOnAll(hosts, first, spec.udp);
  let found: number | undefined = firstCode === undefined ? first : undefined;
  const candidates = others;
  for (let p = last + 1; p <= Math.min(65535, last + FALLBACK_TRIES); p++) candidates.push(p);
  for (const p of candidates) {
    if (found !== undefined) break;
    if (!avoid.has(p) && (await bindProblemOnAll(hosts, p, spec.udp)) === undefined) found = p;
  }
  found ??= await ephemeralPort(hosts, spec.udp ?? false, avoid);
  avoid.add(found);
  const port = found;
  const addresses = hosts.map((h) => joinHostPort(h, port));
  const address = joinHostPort(firstHost, port);
  if (firstCode === undefined) return { address, addresses };
  const shown = addresses.length > 1 ? `port ${port}` : address;
  const tried = hosts.length > 1 ? `port ${first}` : joinHostPort(firstHost, first);
  return {
    address,
    addresses,
    note: `${tried} ${reason(firstCode, first)}: using ${shown} for the ${spec.what} instead (choose one with ${spec.flag} ADDR:PORT)`,
  };
}

async function ephemeralPort(
  hosts: readonly string[],
  udp: boolean,
  avoid: Set<number>,
): Promise<number> {
  for (let i = 0; i < FALLBACK_TRIES; i++) {
    const port = await new Promise<number>((res, rej) => {
      const s = createServer();
      s.once("error", rej);
      s.listen({ host: hosts[0], port: 0, exclusive: true }, () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => res(p));
      });
    });
    if (!avoid.has(port) && (await bindProblemOnAll(hosts, port, udp)) === undefined) return port;
  }
  throw new Error(`no free port on ${hosts.join(", ")}`);
}

/**
 * What the banner says about where Gatehouse listens and who may use it, from the addresses the
 * listeners are really bound to ("host:port" or "http://host:port").
 */
export function listenScope(addresses: readonly string[]): string[] {
  const hosts = [
    ...new Set(addresses.map((a) => splitHostPort(a.replace(/^[a-z]+:\/\//, "")).host)),
  ];
  const loopback = hosts.every(isLoopbackHost);
  if (loopback)
    return [
      `Gatehouse is running on loopback only (${hosts.join(", ")}): only this machine can reach it.`,
    ];
  const shown = hosts.map((h) =>
    h === "0.0.0.0" || h === "::" ? `${h} (every address of this machine)` : h,
  );
  return [
    `Gatehouse is running on ${shown.join(", ")}: other machines can reach it. DNS and the proxy`,
    "serve only clients inside a location's networks (unless allowUnknownClients is set); the",
    "dashboard and the API need a token.",
  ];
}
