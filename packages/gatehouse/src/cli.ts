#!/usr/bin/env node
// The `gatehouse` command: one binary for every role. Each subcommand lives in commands/.

import { readFileSync } from "node:fs";
// Commands load their packages on demand: `gatehouse rules` should not start a database engine.
import { rulesCommand } from "./commands/rules.ts";

const HELP = `gatehouse — a self-hosted secure web gateway

usage:
  gatehouse up [--data-dir DIR] …    control + edge on loopback, the one-command product
  gatehouse edge --config FILE.yaml  the data plane (DNS resolver, HTTP proxy) from a config file
  gatehouse edge install --control URL --join-token T [--dry-run]
                                     make this machine an edge under systemd
  gatehouse control [migrate] …      the control plane's REST API
  gatehouse rules check|fmt|eval …   check, format or evaluate a rules-language expression
  gatehouse import pihole|adguardhome|blocky FILE [--dry-run]
                                     move in from another DNS filter (token in GATEHOUSE_TOKEN)
  gatehouse connect [--location NAME] how to point a phone, a laptop or a router at it
  gatehouse config test FILE.yaml    run a configuration's policy tests (token in GATEHOUSE_TOKEN)
  gatehouse admin password [USER]    set a dashboard user's password (token in GATEHOUSE_TOKEN)
  gatehouse help                     this text
  gatehouse --version                the version, and the Node.js it runs on

Run a subcommand with --help for its options.`;

const io = {
  stdin: process.stdin,
  out: (line: string) => process.stdout.write(`${line}\n`),
  err: (line: string) => process.stderr.write(`${line}\n`),
};

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return `gatehouse ${pkg.version} (Node.js ${process.version})`;
}

async function main(argv: readonly string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case "rules":
      return rulesCommand(rest, io);
    case "edge":
      return (await import("./commands/edge.ts")).edgeCommand(rest, io);
    case "control":
      return (await import("./commands/control.ts")).controlCommand(rest, io);
    case "up":
      return (await import("./commands/up.ts")).upCommand(rest, io);
    case "connect":
      return (await import("./commands/connect.ts")).connectCommand(rest, io);
    case "config":
      return (await import("./commands/config.ts")).configCommand(rest, io);
    case "admin":
      return (await import("./commands/admin.ts")).adminCommand(rest, io);
    case "import":
      return (await import("./commands/import.ts")).importCommand(rest, io);
    case "--version":
    case "-V":
    case "version":
      io.out(version());
      return 0;
    case undefined:
    case "help":
    case "--help":
    case "-h":
      io.out(HELP);
      return cmd === undefined ? 2 : 0;
    default:
      io.err(`unknown command ${JSON.stringify(cmd)}\n\n${HELP}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    io.err(`gatehouse: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
