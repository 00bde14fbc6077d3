// `gatehouse edge install`: make this machine an edge of a control plane under systemd. It writes
// the shipped unit (deploy/systemd/gatehouse-edge.service, with this installation's directory),
// the edge's environment file (control's URL, the join token for its first start, the listen
// addresses; mode 0600: the token is a secret) and a sysusers.d entry for the `gatehouse` user
// the unit runs as, then creates the user, reloads systemd and starts the edge. `--dry-run`
// prints every file it would write (the token masked) and every command it would run, and
// writes nothing. `--root DIR` writes under DIR instead of / (images, tests) and implies
// `--no-start`.

import { spawnSync } from "node:child_process";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { commandLine } from "./command-line.ts";
import type { Io } from "./rules.ts";

const USAGE = `usage: gatehouse edge install --control URL --join-token T [--name NAME]
                              [--public-name NAME] [--dns ADDR:PORT] [--proxy ADDR:PORT] [--metrics ADDR:PORT]
                              [--dry-run] [--root DIR] [--no-start]

Writes /etc/systemd/system/gatehouse-edge.service, /etc/gatehouse/edge.env (0600) and
/etc/sysusers.d/gatehouse.conf, then runs systemd-sysusers, systemctl daemon-reload and
systemctl enable --now gatehouse-edge (as root).
  --dry-run    print the files (the join token masked) and the commands; write nothing
  --root DIR   write under DIR instead of / and start nothing (an image, a test)
  --no-start   write the files, run nothing
Defaults: DNS 0.0.0.0:53, proxy 0.0.0.0:3128, metrics 127.0.0.1:9153. The join token is used
on the first start only; the edge keeps its credential in /var/lib/gatehouse/edge.`;

/** This installation: the directory holding packages/ and deploy/. */
const INSTALL_DIR = resolve(import.meta.dirname, "../../../..");
/** The directory the shipped unit names; replaced by INSTALL_DIR. */
const SHIPPED_DIR = "/opt/gatehouse";
const UNIT = "gatehouse-edge.service";

interface InstallFile {
  readonly path: string;
  readonly mode: number;
  readonly text: string;
  /** What --dry-run prints (secrets masked); the text when absent. */
  readonly shown?: string;
}

/** A value for a systemd EnvironmentFile line: one line, no quotes or backslashes. */
function envValue(flag: string, v: string): string {
  if (!/^[\x21-\x7e]{1,2000}$/.test(v) || /["'\\$`]/.test(v))
    throw new Error(
      `${flag} must be one word of printable characters without quotes, got ${JSON.stringify(v)}`,
    );
  return v;
}

function listenAddress(flag: string, v: string): string {
  if (!/^(\[[0-9a-fA-F:.]+\]|[0-9.]+|[A-Za-z0-9.-]+):\d{1,5}$/.test(v))
    throw new Error(`${flag} must be ADDR:PORT, got ${JSON.stringify(v)}`);
  return v;
}

/** The unit as shipped, pointed at this installation. */
async function unitText(): Promise<string> {
  const shipped = await readFile(join(INSTALL_DIR, "deploy", "systemd", UNIT), "utf8");
  return shipped.split(SHIPPED_DIR).join(INSTALL_DIR);
}

export async function edgeInstallCommand(argv: readonly string[], io: Io): Promise<number> {
  const parsed = commandLine(
    () =>
      parseArgs({
        args: [...argv],
        options: {
          control: { type: "string" },
          "join-token": { type: "string" },
          name: { type: "string" },
          "public-name": { type: "string" },
          dns: { type: "string" },
          proxy: { type: "string" },
          metrics: { type: "string" },
          "dry-run": { type: "boolean" },
          root: { type: "string" },
          "no-start": { type: "boolean" },
          help: { type: "boolean", short: "h" },
        },
      }),
    USAGE,
    io,
  );
  if (typeof parsed === "number") return parsed;
  const v = parsed.values;
  let files: InstallFile[];
  try {
    if (v.control === undefined || v["join-token"] === undefined)
      throw new Error("--control and --join-token are required");
    const control = envValue("--control", v.control);
    if (!/^https?:\/\/[^\s/]+/.test(control))
      throw new Error(`--control must be an http(s) URL, got ${JSON.stringify(control)}`);
    const token = envValue("--join-token", v["join-token"]);
    const env = (shownToken: string) =>
      [
        "# Written by `gatehouse edge install`; read by gatehouse-edge.service.",
        `GATEHOUSE_CONTROL=${control}`,
        "# Used on the first start only (the edge then keeps its credential): remove it afterwards.",
        `GATEHOUSE_JOIN_TOKEN=${shownToken}`,
        `GATEHOUSE_DNS=${listenAddress("--dns", v.dns ?? "0.0.0.0:53")}`,
        `GATEHOUSE_PROXY=${listenAddress("--proxy", v.proxy ?? "0.0.0.0:3128")}`,
        `GATEHOUSE_METRICS=${listenAddress("--metrics", v.metrics ?? "127.0.0.1:9153")}`,
        ...(v.name !== undefined ? [`GATEHOUSE_EDGE_NAME=${envValue("--name", v.name)}`] : []),
        // The name devices use for its DoH and DoT (the Connect page shows it).
        ...(v["public-name"] !== undefined
          ? [`GATEHOUSE_EDGE_PUBLIC_NAME=${envValue("--public-name", v["public-name"])}`]
          : []),
        "",
      ].join("\n");
    const masked = `${token.slice(0, token.indexOf("_", 4) + 1 || 4)}… (the token given, not shown)`;
    files = [
      { path: `/etc/systemd/system/${UNIT}`, mode: 0o644, text: await unitText() },
      { path: "/etc/gatehouse/edge.env", mode: 0o600, text: env(token), shown: env(masked) },
      {
        path: "/etc/sysusers.d/gatehouse.conf",
        mode: 0o644,
        text: 'u gatehouse - "Gatehouse edge" /var/lib/gatehouse\n',
      },
    ];
  } catch (e) {
    io.err(`gatehouse edge install: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const commands = [
    ["systemd-sysusers", "/etc/sysusers.d/gatehouse.conf"],
    ["systemctl", "daemon-reload"],
    ["systemctl", "enable", "--now", UNIT],
  ];
  if (v["dry-run"]) {
    for (const f of files) {
      io.out(`# would write ${join(v.root ?? "/", f.path)} (mode ${f.mode.toString(8)})`);
      io.out((f.shown ?? f.text).trimEnd());
      io.out("");
    }
    if (v.root === undefined && !v["no-start"])
      for (const c of commands) io.out(`# would run: ${c.join(" ")}`);
    io.out("# dry run: nothing was written");
    return 0;
  }
  const root = v.root === undefined ? "/" : resolve(v.root);
  for (const f of files) {
    const path = join(root, f.path);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, f.text, { mode: f.mode });
    // writeFile's mode applies only to a new file: an existing one gets it too.
    await chmod(path, f.mode);
    io.out(`wrote ${path}`);
  }
  if (v.root !== undefined || v["no-start"]) {
    io.out(`not started (${v.root !== undefined ? "--root" : "--no-start"})`);
    return 0;
  }
  for (const c of commands) {
    const [cmd, ...args] = c;
    if (cmd === undefined) continue;
    const r = spawnSync(cmd, args, { stdio: "inherit" });
    if (r.status !== 0) {
      io.err(
        `gatehouse edge install: \`${c.join(" ")}\` failed (${r.error?.message ?? `exit ${r.status}`}); the files are written, run the remaining steps by hand`,
      );
      return 1;
    }
    io.out(`ran ${c.join(" ")}`);
  }
  io.out(`gatehouse-edge is running: journalctl -u ${UNIT} -f`);
  return 0;
}
