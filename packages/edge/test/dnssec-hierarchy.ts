// A signed DNS tree built by the test itself: keys from `ldns-keygen`, zones signed with
// `ldns-signzone`, DS records from `ldns-key2ds`, all served by one `nsd` on loopback (nsd answers
// a DS query from the parent zone it also serves, so one server acts as the whole tree for a
// forwarder). The test root's DS is the trust anchor.
//
//   .            ECDSAP256SHA256, NSEC     delegates gh (signed) and plain (unsigned, no DS)
//   gh           ECDSAP256SHA256, NSEC3    (0 iterations, no opt-out)
//     secure.gh    ECDSAP256SHA256, NSEC   data, a wildcard, an empty non-terminal, CNAMEs
//                                          into other zones
//     n3.gh        ECDSAP384SHA384, NSEC3  data, a wildcard
//     alg8.gh      RSASHA256 · alg10.gh RSASHA512 · alg15.gh ED25519
//     insecure.gh  unsigned, no DS (an insecure delegation proven by NSEC3)
//     iter.gh      NSEC3 with 200 iterations (RFC 9276: its denials are insecure)
//     tampered.gh  one signature altered            → bogus, EDE 6
//     expired.gh   signatures expired in 2020       → bogus, EDE 7
//     future.gh    signatures valid from next year  → bogus, EDE 8
//     nokey.gh     DNSKEY RRset removed after signing → bogus, EDE 9
//     mismatch.gh  the DS names another key          → bogus, EDE 9
//   plain        unsigned (an insecure delegation proven by the root's NSEC)

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, has, spawnDnsServer } from "./dns-helpers.ts";

export const DNSSEC_TOOLS = ["ldns-keygen", "ldns-signzone", "ldns-key2ds", "nsd"];

/** Why the signed-hierarchy tests cannot run here, or false. */
export function dnssecToolsMissing(): string | false {
  const missing = DNSSEC_TOOLS.filter((t) => !has(t) && !has(`/usr/sbin/${t}`));
  return missing.length > 0
    ? `${missing.join(", ")} not installed (apt packages ldnsutils, nsd)`
    : false;
}

interface ZoneSpec {
  readonly name: string;
  readonly alg?: string;
  /** ldns-signzone options (NSEC3, dates). */
  readonly sign?: string[];
  readonly records: string[];
  /** Change the signed text (tamper with it). */
  readonly after?: (signed: string) => string;
  /** The DS the parent publishes: this zone's key (default), another key, or none. */
  readonly ds?: "own" | "other" | "none";
}

const NS = "ns.invalid.";

const year = new Date().getUTCFullYear();

const LEAVES: ZoneSpec[] = [
  {
    name: "secure.gh",
    alg: "ECDSAP256SHA256",
    records: [
      "www A 192.0.2.1",
      'www TXT "hello"',
      "*.wild A 192.0.2.2",
      "deep.ent A 192.0.2.3",
      "alias CNAME www.alg15.gh.",
      "tounsigned CNAME www.insecure.gh.",
      "tobogus CNAME www.tampered.gh.",
    ],
  },
  {
    name: "n3.gh",
    alg: "ECDSAP384SHA384",
    sign: ["-n", "-t", "0"],
    records: ["www A 192.0.2.10", "*.wild A 192.0.2.11"],
  },
  { name: "alg8.gh", alg: "RSASHA256", records: ["www A 192.0.2.20"] },
  { name: "alg10.gh", alg: "RSASHA512", records: ["www A 192.0.2.21"] },
  { name: "alg15.gh", alg: "ED25519", records: ["www A 192.0.2.22"] },
  { name: "insecure.gh", records: ["www A 192.0.2.30"], ds: "none" },
  {
    name: "iter.gh",
    alg: "ECDSAP256SHA256",
    sign: ["-n", "-t", "200"],
    records: ["www A 192.0.2.31"],
  },
  {
    name: "tampered.gh",
    alg: "ECDSAP256SHA256",
    records: ["www A 192.0.2.40"],
    after: (s) =>
      s.replace(
        /^(www\.tampered\.gh\.\s+\d+\s+IN\s+RRSIG\s+A\s.*?)(\S)(\S{8})$/m,
        (_m, a, c, rest) => `${a}${c === "A" ? "B" : "A"}${rest}`,
      ),
  },
  {
    name: "expired.gh",
    alg: "ECDSAP256SHA256",
    sign: ["-i", "20190101", "-e", "20200101"],
    records: ["www A 192.0.2.41"],
  },
  {
    name: "future.gh",
    alg: "ECDSAP256SHA256",
    sign: ["-i", `${year + 1}0101`, "-e", `${year + 2}0101`],
    records: ["www A 192.0.2.42"],
  },
  {
    name: "nokey.gh",
    alg: "ECDSAP256SHA256",
    records: ["www A 192.0.2.43"],
    after: (s) => s.replace(/^nokey\.gh\.\s+\d+\s+IN\s+(DNSKEY|RRSIG\s+DNSKEY)\s.*\n/gm, ""),
  },
  { name: "mismatch.gh", alg: "ECDSAP256SHA256", records: ["www A 192.0.2.44"], ds: "other" },
];

export interface Hierarchy {
  /** nsd's port on 127.0.0.1 (UDP and TCP). */
  readonly port: number;
  /** The root's DS, in presentation form: the trust anchor. */
  readonly anchor: string;
  readonly dir: string;
  close(): Promise<void>;
}

function zoneText(name: string, records: string[]): string {
  const origin = name === "." ? "." : `${name}.`;
  return [
    `$ORIGIN ${origin}`,
    "$TTL 300",
    `@ SOA ${NS} hostmaster.invalid. 1 3600 600 86400 300`,
    `@ NS ${NS}`,
    ...records,
    "",
  ].join("\n");
}

/** `names`: this many extra A records `h<i>.secure.gh` and `h<i>.n3.gh` (bench/dns/dnssec.ts). */
export async function buildHierarchy(opts: { names?: number } = {}): Promise<Hierarchy> {
  const dir = mkdtempSync(join(tmpdir(), "gh-dnssec-"));
  const extra = Array.from(
    { length: opts.names ?? 0 },
    (_, i) => `h${i} A 198.51.${(i >> 8) & 0xff}.${i & 0xff}`,
  );
  const leaves = LEAVES.map((z) =>
    extra.length > 0 && (z.name === "secure.gh" || z.name === "n3.gh")
      ? { ...z, records: [...z.records, ...extra] }
      : z,
  );
  const run = (cmd: string, args: string[]) =>
    execFileSync(cmd, args, {
      cwd: dir,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    }).trim();
  const keygen = (zone: string, alg: string) =>
    run("ldns-keygen", [
      "-a",
      alg,
      ...(alg.startsWith("RSA") ? ["-b", "1024"] : []),
      "-k",
      zone === "." ? "." : zone,
    ]);
  const dsOf = (key: string) => run("ldns-key2ds", ["-n", "-2", `${key}.key`]);
  const sign = (z: ZoneSpec, extra: string[] = []): void => {
    const file = `${z.name === "." ? "root" : z.name}.zone`;
    writeFileSync(join(dir, file), zoneText(z.name, z.records));
    if (!z.alg) {
      writeFileSync(join(dir, `${file}.signed`), zoneText(z.name, z.records));
      return;
    }
    const key = keygen(z.name, z.alg);
    keys.set(z.name, key);
    run("ldns-signzone", [
      ...(z.sign ?? []),
      ...extra,
      "-f",
      `${file}.signed`,
      "-o",
      z.name === "." ? "." : `${z.name}.`,
      file,
      key,
    ]);
    if (z.after) {
      const p = join(dir, `${file}.signed`);
      const before = readFileSync(p, "utf8");
      const changed = z.after(before);
      if (changed === before) throw new Error(`tampering with ${z.name} changed nothing`);
      writeFileSync(p, changed);
    }
  };
  const keys = new Map<string, string>();
  const delegations: string[] = [];
  for (const z of leaves) {
    sign(z);
    const label = z.name.replace(/\.gh$/, "");
    delegations.push(`${label} NS ${NS}`);
    const ds = z.ds ?? "own";
    if (ds === "own") delegations.push(dsOf(keys.get(z.name)!).replace(/^\S+/, `${z.name}.`));
    if (ds === "other") {
      const spare = keygen(z.name, z.alg!);
      delegations.push(dsOf(spare).replace(/^\S+/, `${z.name}.`));
    }
  }
  const gh: ZoneSpec = {
    name: "gh",
    alg: "ECDSAP256SHA256",
    sign: ["-n", "-t", "0"],
    records: delegations,
  };
  sign(gh);
  const plain: ZoneSpec = { name: "plain", records: ["www A 192.0.2.50"] };
  sign(plain);
  const root: ZoneSpec = {
    name: ".",
    alg: "ECDSAP256SHA256",
    records: [`gh. NS ${NS}`, dsOf(keys.get("gh")!).replace(/^\S+/, "gh."), `plain. NS ${NS}`],
  };
  sign(root);
  const anchor = dsOf(keys.get(".")!);

  const port = await freePort();
  const zones = [root, gh, plain, ...leaves];
  const conf = [
    "server:",
    `  ip-address: 127.0.0.1@${port}`,
    `  port: ${port}`,
    '  username: ""',
    '  chroot: ""',
    `  zonesdir: "${dir}"`,
    `  zonelistfile: "${dir}/zone.list"`,
    '  database: ""',
    `  pidfile: "${dir}/nsd.pid"`,
    `  xfrdfile: "${dir}/xfrd.state"`,
    `  logfile: "${dir}/nsd.log"`,
    "  server-count: 1",
    "  hide-version: yes",
    "  verbosity: 1",
    "remote-control:",
    "  control-enable: no",
    ...zones.flatMap((z) => [
      "zone:",
      `  name: "${z.name === "." ? "." : `${z.name}.`}"`,
      `  zonefile: "${z.name === "." ? "root" : z.name}.zone.signed"`,
    ]),
    "",
  ].join("\n");
  writeFileSync(join(dir, "nsd.conf"), conf);
  const nsd = has("nsd") ? "nsd" : "/usr/sbin/nsd";
  const server = await spawnDnsServer(
    nsd,
    ["-d", "-c", join(dir, "nsd.conf")],
    port,
    (m) => m !== undefined && m.answers.length > 0,
    "www.secure.gh",
  );
  return {
    port,
    anchor,
    dir,
    close: async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
