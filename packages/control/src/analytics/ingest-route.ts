// POST /api/v1/edge/logs: edges ship query-log batches here (edge credential; the control app
// passes its edge auth hook as `preHandler`). Body: NDJSON, one QueryLogRecord per line,
// optionally gzip-compressed (Content-Encoding: gzip, RFC 9110 §8.4.1.3). `X-Batch-Id` names
// the batch; edges retry until acknowledged, so a repeated id is acknowledged without being
// stored again. Limits apply to the bytes on the wire, the inflated bytes and the record count;
// a malformed line rejects the whole batch with its line number (400), never half of it.

import { promisify } from "node:util";
import { gunzip } from "node:zlib";
import { GatehouseError, IngestResult, QueryLogRecord } from "@gatehouse/contract";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from "fastify";
import { checkBatchId } from "./batch-id.ts";
import { installErrorHandler, type RouteMountOptions } from "./http-common.ts";
import type { AnalyticsStore } from "./types.ts";

export const EDGE_LOGS_PATH = "/api/v1/edge/logs";
const gunzipAsync = promisify(gunzip);
const recordChecker = TypeCompiler.Compile(QueryLogRecord);

interface EdgeLogIngestOptions extends RouteMountOptions {
  /** Largest request body on the wire (compressed), bytes; default 16 MiB. */
  maxBodyBytes?: number;
  /** Largest inflated body, bytes; default 128 MiB. */
  maxInflatedBytes?: number;
  /** Most records in one batch; default 100,000 (edges send at most 5,000). */
  maxRecords?: number;
  /**
   * The authenticated edge's id: stamped as `edgeId` on every record of its batches, whatever
   * the record says (an edge cannot write rows as another edge, and records an edge logged
   * before it knew its id get it too).
   */
  edgeOf?: (req: FastifyRequest) => string | undefined;
}

/** Parse NDJSON into records; throws a 400 GatehouseError naming the first bad line. */
function parseNdjson(text: string, maxRecords: number): QueryLogRecord[] {
  const records: QueryLogRecord[] = [];
  let line = 0;
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf("\n", start);
    if (end === -1) end = text.length;
    line++;
    let s = text.slice(start, end);
    if (s.endsWith("\r")) s = s.slice(0, -1);
    start = end + 1;
    if (s.trim().length === 0) continue;
    let v: unknown;
    try {
      v = JSON.parse(s);
    } catch (e) {
      throw badLine(line, `not JSON: ${(e as Error).message}`);
    }
    if (!recordChecker.Check(v)) {
      const first = recordChecker.Errors(v).First();
      const where = first?.path ? `${first.path}: ` : "";
      throw badLine(line, `not a query-log record: ${where}${first?.message ?? "invalid"}`);
    }
    if (records.length >= maxRecords) {
      throw new GatehouseError("GH_ERR_PAYLOAD_TOO_LARGE", `more than ${maxRecords} records`);
    }
    records.push(v);
  }
  return records;
}

function badLine(line: number, message: string): GatehouseError {
  return new GatehouseError("GH_ERR_BAD_REQUEST", `line ${line}: ${message}`, { line });
}

/** A Fastify plugin with the edge log ingestion route. */
export function edgeLogIngestRoutes(
  store: AnalyticsStore,
  opts: EdgeLogIngestOptions = {},
): FastifyPluginAsync {
  const maxBody = opts.maxBodyBytes ?? 16 * 1024 * 1024;
  const maxInflated = opts.maxInflatedBytes ?? 128 * 1024 * 1024;
  const maxRecords = opts.maxRecords ?? 100_000;
  return async (app: FastifyInstance) => {
    installErrorHandler(app);
    // Bodies stay raw bytes here: inflating and line-splitting happen in the handler so
    // errors carry line numbers. Scoped to this plugin; other routes keep their parsers.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser(
      ["application/x-ndjson", "application/ndjson", "application/jsonl"],
      { parseAs: "buffer", bodyLimit: maxBody },
      (_req, body, done) => done(null, body),
    );
    app.post<{ Body: Buffer; Headers: { "x-batch-id"?: string } }>(
      EDGE_LOGS_PATH,
      {
        config: opts.routeConfig ?? {},
        onRequest: opts.preHandler ?? [],
        bodyLimit: maxBody,
        schema: {
          tags: ["edge"],
          summary: "Ingest a batch of query-log records (NDJSON, optionally gzip)",
          headers: {
            type: "object",
            properties: { "x-batch-id": { type: "string", minLength: 1, maxLength: 128 } },
            required: ["x-batch-id"],
          },
          response: { 200: IngestResult },
        },
      },
      async (req) => {
        const batchId = req.headers["x-batch-id"] ?? "";
        checkBatchId(batchId);
        const encoding = String(req.headers["content-encoding"] ?? "identity").toLowerCase();
        let raw = req.body;
        if (encoding === "gzip" || encoding === "x-gzip") {
          try {
            raw = await gunzipAsync(raw, { maxOutputLength: maxInflated });
          } catch (e) {
            const code = (e as NodeJS.ErrnoException).code;
            if (code === "ERR_BUFFER_TOO_LARGE") {
              throw new GatehouseError(
                "GH_ERR_PAYLOAD_TOO_LARGE",
                `inflated body exceeds ${maxInflated} bytes`,
              );
            }
            throw new GatehouseError("GH_ERR_BAD_REQUEST", "body is not valid gzip");
          }
        } else if (encoding !== "identity") {
          throw new GatehouseError(
            "GH_ERR_UNSUPPORTED_MEDIA_TYPE",
            `unsupported content-encoding ${encoding}`,
          );
        }
        const text = new TextDecoder("utf-8", { fatal: true });
        let body: string;
        try {
          body = text.decode(raw);
        } catch {
          throw new GatehouseError("GH_ERR_BAD_REQUEST", "body is not valid UTF-8");
        }
        const records = parseNdjson(body, maxRecords);
        const edgeId = opts.edgeOf?.(req);
        if (edgeId !== undefined) for (const r of records) r.edgeId = edgeId;
        const result = await store.ingest(batchId, records, opts.accountOf?.(req) ?? "");
        return { batchId, ...result };
      },
    );
  };
}
