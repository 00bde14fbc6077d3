// POST /import/{product}: another DNS filter's configuration file (a Pi-hole gravity.db or
// Teleporter backup, AdGuardHome.yaml, Blocky's config.yml) as the body, mapped by the same
// code as `gatehouse import` and created through this API's own routes (in-process requests
// with the caller's credential: the same checks, audit entries and auto-publish as any client).

import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { type ErrorCode, GatehouseError, ImportReportView } from "@gatehouse/contract";
import { Type as T } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { applyPlan } from "../import/apply.ts";
import { ImportInputError } from "../import/errors.ts";
import { planImport } from "../import/index.ts";
import { IMPORT_PRODUCTS, MAX_IMPORT_BYTES } from "../import/plan.ts";

const Query = T.Object(
  { dryRun: T.Optional(T.Boolean({ default: false })) },
  { additionalProperties: false },
);

const NAMES = { pihole: "Pi-hole", adguardhome: "AdGuard Home", blocky: "Blocky" } as const;
const FILES = {
  pihole: "a gravity.db, or a Teleporter backup (Pi-hole v6 .zip, v5 .tar.gz)",
  adguardhome: "AdGuardHome.yaml",
  blocky: "Blocky's config.yml",
} as const;

/** The media types a configuration file may be sent as; the body is read as bytes. */
const FILE_TYPES = [
  "application/octet-stream",
  "application/zip",
  "application/gzip",
  "application/x-gzip",
  "application/vnd.sqlite3",
  "application/x-sqlite3",
  "application/yaml",
  "application/x-yaml",
  "text/yaml",
  "text/plain",
];

export async function importRoutes(fastify: FastifyInstance): Promise<void> {
  const { metrics } = fastify.gatehouse;
  await fastify.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(
      FILE_TYPES,
      { parseAs: "buffer", bodyLimit: MAX_IMPORT_BYTES },
      (_req, body, done) => done(null, body),
    );
    const app = scope.withTypeProvider<TypeBoxTypeProvider>();
    // One route per product: the product is no resource id, so no path parameter.
    for (const product of IMPORT_PRODUCTS)
      app.post(
        `/import/${product}`,
        {
          config: { access: "admin", errors: [409, 422] },
          schema: {
            tags: ["config"],
            summary: `Import a ${NAMES[product]} configuration`,
            description: `Body: the file itself — ${FILES[product]} — as application/octet-stream (or application/zip, application/gzip, application/yaml, text/plain). Creates lists, subscriptions, policies and resolver settings named after the product, skipping those an earlier import created, then publishes. ?dryRun=true changes nothing and answers what it would do. 422 GH_ERR_VALIDATION when the file is not the product's.`,
            querystring: Query,
            response: { 200: ImportReportView },
          },
        },
        async (req) => {
          const body = req.body;
          if (!Buffer.isBuffer(body) || body.length === 0)
            throw new GatehouseError(
              "GH_ERR_BAD_REQUEST",
              "send the configuration file as the body",
            );
          let plan: Awaited<ReturnType<typeof planImport>>;
          try {
            plan = await planImport(product, body);
          } catch (e) {
            metrics.observeImport(product, e instanceof ImportInputError ? "refused" : "failed");
            if (e instanceof ImportInputError)
              throw new GatehouseError("GH_ERR_VALIDATION", e.message);
            throw e;
          }
          const headers: Record<string, string> = {};
          for (const h of ["authorization", "cookie"] as const) {
            const v = req.headers[h];
            if (typeof v === "string") headers[h] = v;
          }
          const dryRun = req.query.dryRun === true;
          const report = await applyPlan(
            plan,
            async (method, path, payload) => {
              const r = await scope.inject({
                method: method as "GET",
                url: `/api/v1${path}`,
                headers:
                  payload === undefined
                    ? headers
                    : { ...headers, "content-type": "application/json" },
                ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }),
              });
              const json: unknown = r.body === "" ? undefined : JSON.parse(r.body);
              if (r.statusCode >= 400) {
                const err = (
                  json as { error?: { code?: ErrorCode; message?: string; details?: unknown } }
                )?.error;
                const code: ErrorCode =
                  r.statusCode === 409 ? "GH_ERR_CONFLICT" : "GH_ERR_VALIDATION";
                if (r.statusCode >= 500)
                  throw new Error(`${method} ${path}: ${r.statusCode} ${r.body.slice(0, 300)}`);
                throw new GatehouseError(
                  code,
                  `${method} ${path}: ${err?.message ?? r.statusCode}`,
                  err?.details,
                );
              }
              return json;
            },
            dryRun,
          ).catch((e: unknown) => {
            metrics.observeImport(product, "failed", plan.notMapped.length);
            throw e;
          });
          metrics.observeImport(product, dryRun ? "dry_run" : "created", plan.notMapped.length);
          return report;
        },
      );
  });
}
