// The start every CLI subcommand shares: parse its command line, answer --help with its usage,
// and a command line it cannot parse with the reason, the usage and exit code 2.

import type { Io } from "./rules.ts";

/** The parsed command line, or the exit code when there is nothing more to do. */
export function commandLine<P extends { values: { help?: boolean | undefined } }>(
  parse: () => P,
  usage: string,
  io: Io,
): P | number {
  let parsed: P;
  try {
    parsed = parse();
  } catch (e) {
    io.err(`${(e as Error).message}\n\n${usage}`);
    return 2;
  }
  if (parsed.values.help) {
    io.out(usage);
    return 0;
  }
  return parsed;
}
