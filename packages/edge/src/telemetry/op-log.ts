// Operational logs (not query logs): JSON lines through pino with a level, the component that
// wrote them and, where one exists, a request id. Secrets never reach the output: known token
// shapes and Authorization values are scrubbed from every message, and the usual secret-bearing
// fields are redacted, so a careless call site cannot leak a credential into a log collector.
//
// The edge's classes take a plain `log: (line) => void` callback (they stay free of a logging
// dependency in their constructors); `lineSink` adapts such a callback onto a component logger.

import pino, { type DestinationStream, type Logger } from "pino";

/** Components that write operational logs; the `component` field of every line. */
export const LOG_COMPONENTS = [
  "cli",
  "control",
  "analytics",
  "edge",
  "dns",
  "proxy",
  "sync",
  "shipper",
  "workers",
] as const;
export type LogComponent = (typeof LOG_COMPONENTS)[number];

export type OpLogger = Logger;

export interface OpLoggerOptions {
  /** Where JSON lines go (one call per line, without the newline); default stderr. */
  readonly write?: (line: string) => void;
  /** Minimum level; default GATEHOUSE_LOG_LEVEL or "info". */
  readonly level?: string;
  readonly component?: LogComponent;
}

// API tokens, edge credentials, join tokens and device credentials all have the shape
// `gh?_<16 hex id>_<43 base64url>`; the id alone is not secret but the match takes the whole.
const TOKEN_RE = /\bgh[a-z]_[0-9a-f]{16}_[A-Za-z0-9_-]{43}/g;
// RFC 9110 §11.6.2 credentials after an auth scheme (Bearer, Basic, …) in free text.
const AUTH_RE = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi;
const PASSWORD_RE = /\b(password|passwd|secret)(["']?\s*[:=]\s*)("[^"]*"|'[^']*'|\S+)/gi;

/** The text with every token, Authorization credential and `password=` value replaced. */
export function scrubSecrets(text: string): string {
  // Fast path: most lines carry nothing that looks like a secret.
  if (!/gh[a-z]_|bearer|basic|passw|secret/i.test(text)) return text;
  return text
    .replace(TOKEN_RE, "[redacted]")
    .replace(AUTH_RE, "$1 [redacted]")
    .replace(PASSWORD_RE, "$1$2[redacted]");
}

const REDACT_PATHS = [
  "authorization",
  "headers.authorization",
  "req.headers.authorization",
  "req.headers.cookie",
  "req.headers['proxy-authorization']",
  "headers['proxy-authorization']",
  "token",
  "*.token",
  "joinToken",
  "*.joinToken",
  "credential",
  "*.credential",
  "password",
  "*.password",
];

function lineStream(write: (line: string) => void): DestinationStream {
  return {
    write(chunk: string) {
      write(chunk.endsWith("\n") ? chunk.slice(0, -1) : chunk);
    },
  };
}

// pino appends child bindings, so a child with its own `component` would print the key twice:
// component loggers are made from the root (remembered here) instead.
const roots = new WeakMap<OpLogger, OpLogger>();

/** A logger writing `{"level":"info","time":"…","component":"edge","msg":"…"}` per line. */
export function createOpLogger(opts: OpLoggerOptions = {}): OpLogger {
  const stream = opts.write ? lineStream(opts.write) : pino.destination({ fd: 2, sync: true });
  const root = pino(
    {
      level: opts.level ?? process.env["GATEHOUSE_LOG_LEVEL"] ?? "info",
      // Labels rather than numbers, and no hostname/pid noise: collectors add those.
      formatters: { level: (label) => ({ level: label }) },
      base: null,
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
      hooks: {
        logMethod(args, method) {
          for (let i = 0; i < args.length; i++) {
            const a = args[i];
            if (typeof a === "string") args[i] = scrubSecrets(a);
            else if (a instanceof Error) args[i] = { err: scrubError(a) };
          }
          method.apply(this, args as Parameters<typeof method>);
        },
      },
    },
    stream,
  );
  const logger = root.child({ component: opts.component ?? "cli" });
  roots.set(logger, root);
  return logger;
}

/** The same output under another component (use `.child({ reqId })` for request ids). */
export function withComponent(logger: OpLogger, component: LogComponent): OpLogger {
  const root = roots.get(logger);
  if (!root) return logger.child({ component });
  const child = root.child({ component });
  roots.set(child, root);
  return child;
}

function scrubError(e: Error): { type: string; message: string } {
  return { type: e.name, message: scrubSecrets(e.message) };
}

// Plain-line callers say what went wrong in words; these choose the level.
const ERROR_RE = /\b(crash|fatal|cannot start|exited)\b/i;
const WARN_RE =
  /\b(fail|failed|failing|refused|rejected|reject|unreachable|error|could not|dropped|drop|lost|stale|giving up|gave up|retry|retrying)\b/i;
const PREFIX_RE = /^gatehouse(?: [a-z-]+)?: /;

/**
 * A `(line) => void` callback for the edge's classes that logs each line on `logger`: the
 * `gatehouse edge: ` prefix goes (the component field says it), the level comes from the words.
 */
export function lineSink(logger: OpLogger): (line: string) => void {
  return (line) => {
    const msg = line.replace(PREFIX_RE, "");
    if (ERROR_RE.test(msg)) logger.error(msg);
    else if (WARN_RE.test(msg)) logger.warn(msg);
    else logger.info(msg);
  };
}
