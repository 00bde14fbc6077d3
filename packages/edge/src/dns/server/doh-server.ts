// DNS over HTTPS (RFC 8484) on HTTP/2 with HTTP/1.1 fallback (node:http2 allowHTTP1):
//   GET  /dns-query?dns=<base64url message>      (§4.1; padding or standard base64 → 400)
//   POST /dns-query  application/dns-message      (§4.1; other media types → 415)
//   GET  /dns-query?name=example.com&type=AAAA    JSON answer, application/dns-json (the
//        de-facto JSON API of public resolvers)
// `/dns-query/<token>` selects a location by its DoH token. HTTP freshness (max-age) never
// exceeds the smallest TTL in the answer (§5.1). No DNS-level truncation over HTTP (§6).

import {
  createSecureServer,
  type Http2SecureServer,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type ServerHttp2Session,
} from "node:http2";
import type { Socket } from "node:net";
import { splitHostPort } from "../../net/host-port.ts";
import type { DnsService } from "../dns-service.ts";
import { RRType, typeNumber } from "../wire/constants.ts";
import {
  decodeMessage,
  emptyMessage,
  encodeMessage,
  type Message,
  type ResourceRecord,
} from "../wire/message.ts";

const MEDIA = "application/dns-message";
const JSON_MEDIA = "application/dns-json";
const MAX_BODY = 65535;

export interface DohListener {
  readonly server: Http2SecureServer;
  readonly host: string;
  readonly port: number;
  close(graceMs?: number): Promise<void>;
}

function fail(res: Http2ServerResponse, status: number, message: string): void {
  if (res.headersSent) return;
  res.writeHead(status, {
    "content-type": "text/plain; charset=utf-8",
    "cache-control": "no-store",
  });
  res.end(`${message}\n`);
}

/** RFC 4648 §5 base64url without padding; anything else is rejected. */
function decodeBase64Url(s: string): Buffer | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(s) || s.length % 4 === 1) return undefined;
  return Buffer.from(s, "base64url");
}

function minTtl(m: Message): number | undefined {
  let min: number | undefined;
  for (const rr of [...m.answers, ...m.authorities])
    if (min === undefined || rr.ttl < min) min = rr.ttl;
  return min;
}

function rdataText(rr: ResourceRecord): string {
  const d = rr.data;
  if (typeof d === "string")
    return rr.type === RRType.CNAME || rr.type === RRType.NS || rr.type === RRType.PTR
      ? `${d}.`
      : d;
  if (Array.isArray(d))
    return d.map((b) => JSON.stringify(Buffer.from(b).toString("utf8"))).join(" ");
  if (d instanceof Uint8Array) return `\\# ${d.length} ${Buffer.from(d).toString("hex")}`;
  if ("exchange" in d) return `${d.preference} ${d.exchange}.`;
  if ("target" in d) return `${d.priority} ${d.weight} ${d.port} ${d.target}.`;
  return `${d.mname}. ${d.rname}. ${d.serial} ${d.refresh} ${d.retry} ${d.expire} ${d.minimum}`;
}

function jsonOf(m: Message): unknown {
  const rr = (r: ResourceRecord) => ({
    name: `${r.name}.`,
    type: r.type,
    TTL: r.ttl,
    data: rdataText(r),
  });
  return {
    Status: m.rcode,
    TC: m.tc,
    RD: m.rd,
    RA: m.ra,
    AD: m.ad,
    CD: m.cd,
    Question: m.questions.map((q) => ({ name: `${q.name}.`, type: q.type })),
    ...(m.answers.length ? { Answer: m.answers.map(rr) } : {}),
    ...(m.authorities.length ? { Authority: m.authorities.map(rr) } : {}),
  };
}

export async function listenDoh(
  service: DnsService,
  addr: string,
  tls: { readonly cert: string | Buffer; readonly key: string | Buffer },
): Promise<DohListener> {
  const { host, port } = splitHostPort(addr);
  const sessions = new Set<ServerHttp2Session>();
  const h1 = new Set<Socket>();

  const handler = (req: Http2ServerRequest, res: Http2ServerResponse) => {
    handle(req, res).catch(() => fail(res, 500, "internal error"));
  };

  const handle = async (req: Http2ServerRequest, res: Http2ServerResponse) => {
    const url = new URL(req.url, "https://doh.invalid");
    const m = /^\/dns-query(?:\/([A-Za-z0-9_-]{1,128}))?\/?$/.exec(url.pathname);
    if (!m) return fail(res, 404, "not found");
    const token = m[1];
    let wire: Buffer | undefined;
    let json = false;
    if (req.method === "GET") {
      const dns = url.searchParams.get("dns");
      const name = url.searchParams.get("name");
      if (dns !== null) {
        wire = decodeBase64Url(dns);
        if (!wire || wire.length < 12)
          return fail(res, 400, "bad dns parameter (base64url without padding)");
      } else if (name !== null) {
        json = true;
        const t = typeNumber(url.searchParams.get("type") ?? "A");
        if (t === undefined) return fail(res, 400, "unknown type");
        const q = emptyMessage(0);
        q.rd = url.searchParams.get("rd") !== "0";
        q.cd = url.searchParams.get("cd") === "1" || url.searchParams.get("cd") === "true";
        q.questions.push({ name: name.replace(/\.$/, ""), type: t, class: 1 });
        try {
          wire = encodeMessage(q);
        } catch (e) {
          return fail(res, 400, (e as Error).message);
        }
      } else return fail(res, 400, "missing dns or name parameter");
    } else if (req.method === "POST") {
      const ct = String(req.headers["content-type"] ?? "")
        .split(";")[0]!
        .trim()
        .toLowerCase();
      if (ct !== MEDIA) return fail(res, 415, `expected ${MEDIA}`);
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const c of req) {
        size += (c as Buffer).length;
        if (size > MAX_BODY) return fail(res, 413, "message too large");
        chunks.push(c as Buffer);
      }
      wire = Buffer.concat(chunks);
      if (wire.length < 12) return fail(res, 400, "message too short");
    } else {
      res.setHeader("allow", "GET, POST");
      return fail(res, 405, "method not allowed");
    }
    const sock = req.socket;
    const out = await service.handle(wire, {
      transport: "doh",
      ip: sock.remoteAddress ?? "",
      port: sock.remotePort ?? 0,
      ...(token ? { dohToken: token } : {}),
    });
    if (!out) return fail(res, 429, "query refused");
    const msg = decodeMessage(out);
    const ttl = minTtl(msg);
    const headers: Record<string, string> = {
      "cache-control": ttl === undefined ? "no-cache" : `max-age=${ttl}`,
    };
    if (json) {
      const body = JSON.stringify(jsonOf(msg));
      res.writeHead(200, { ...headers, "content-type": JSON_MEDIA });
      res.end(body);
      return;
    }
    res.writeHead(200, { ...headers, "content-type": MEDIA, "content-length": String(out.length) });
    res.end(out);
  };

  const server = createSecureServer(
    { cert: tls.cert, key: tls.key, allowHTTP1: true, ALPNProtocols: ["h2", "http/1.1"] },
    handler,
  );
  server.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
    s.on("error", () => {});
  });
  server.on("secureConnection", (s: Socket & { alpnProtocol?: string | false }) => {
    if (s.alpnProtocol !== "h2") {
      h1.add(s);
      s.on("close", () => h1.delete(s));
    }
  });
  server.on("tlsClientError", () => {});
  server.on("error", () => {});
  await new Promise<void>((ok, fail) => {
    server.once("error", fail);
    server.listen(port, host, () => {
      server.off("error", fail);
      ok();
    });
  });
  const a = server.address() as { address: string; port: number };
  return {
    server,
    host: a.address,
    port: a.port,
    close: async (graceMs = 2000) => {
      const done = new Promise<void>((ok) => server.close(() => ok()));
      // HTTP/2: GOAWAY, letting open streams finish; HTTP/1.1: end idle keep-alive sockets.
      for (const s of sessions) s.close();
      for (const s of h1) s.end();
      const timer = setTimeout(() => {
        for (const s of sessions) s.destroy();
        for (const s of h1) s.destroy();
      }, graceMs);
      await done;
      clearTimeout(timer);
    },
  };
}
