// /tls: the organisation's root CA for TLS inspection. The certificate is public (devices
// download it to trust the proxy's certificates: GET /tls/ca.pem and /tls/ca.der need no
// credential); the key is never returned. Admins may replace the generated root with their own
// (PUT /tls/ca). Edges get their intermediate CA signed through POST /edge/tls/intermediate.

import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { EdgeIntermediateIssued, GatehouseError, TlsCaView } from "@gatehouse/contract";
import { Type as T } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { audit } from "../audit.ts";
import { actorOf } from "../context.ts";
import { MAX_CSR_LENGTH, signIntermediate } from "../tls/intermediate.ts";
import { rootView } from "../tls/root-ca.ts";
import { who } from "./common.ts";

const tags = ["tls"];
const CaQuery = T.Object(
  {
    /** Whose root; default the install's system account. */
    account: T.Optional(T.String({ minLength: 1, maxLength: 128, pattern: "^[A-Za-z0-9_.:-]+$" })),
  },
  { additionalProperties: false },
);
const CaImport = T.Object(
  {
    /** One PEM CA certificate. */
    certificate: T.String({ minLength: 50, maxLength: 65536 }),
    /** Its private key, unencrypted PEM (PKCS#8, SEC1 or PKCS#1). Stored encrypted. */
    privateKey: T.String({ minLength: 50, maxLength: 65536 }),
  },
  { additionalProperties: false },
);
const IntermediateRequest = T.Object(
  { csr: T.String({ minLength: 50, maxLength: MAX_CSR_LENGTH }) },
  { additionalProperties: false },
);
const PemFile = {
  description: "The root CA certificate, PEM",
  content: { "application/x-pem-file": { schema: T.String() } },
};
const DerFile = {
  description: "The root CA certificate, DER",
  content: {
    "application/x-x509-ca-cert": {
      schema: T.Unsafe<Buffer>({ type: "string", format: "binary" }),
    },
  },
};

export async function tlsRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { db, roots, systemAccountId, options } = app.gatehouse;

  const rootOf = async (account: string | undefined) => {
    const id = account ?? systemAccountId;
    const exists = await db
      .selectFrom("accounts")
      .select("id")
      .where("id", "=", id)
      .executeTakeFirst();
    if (!exists) throw new GatehouseError("GH_ERR_NOT_FOUND", "no such account");
    return roots.get(id);
  };

  app.get(
    "/tls/ca.pem",
    {
      config: { access: "public", errors: [404] },
      schema: {
        tags,
        summary: "The organisation's root CA certificate, PEM (public: devices install it)",
        querystring: CaQuery,
        security: [],
        response: { 200: PemFile },
      },
    },
    async (req, reply) => {
      const root = await rootOf(req.query.account);
      return reply
        .header("content-type", "application/x-pem-file")
        .header("content-disposition", 'attachment; filename="gatehouse-root-ca.pem"')
        .header("cache-control", "public, max-age=3600")
        .send(root.certPem);
    },
  );

  app.get(
    "/tls/ca.der",
    {
      config: { access: "public", errors: [404] },
      schema: {
        tags,
        summary: "The organisation's root CA certificate, DER (Windows, Android)",
        querystring: CaQuery,
        security: [],
        response: { 200: DerFile },
      },
    },
    async (req, reply) => {
      const root = await rootOf(req.query.account);
      return reply
        .header("content-type", "application/x-x509-ca-cert")
        .header("content-disposition", 'attachment; filename="gatehouse-root-ca.cer"')
        .header("cache-control", "public, max-age=3600")
        .send(Buffer.from(root.cert.rawData));
    },
  );

  app.get(
    "/tls/ca",
    {
      config: { access: "viewer" },
      schema: {
        tags,
        summary: "The root CA's certificate and facts (never its key)",
        response: { 200: TlsCaView },
      },
    },
    async (req) => rootView(await roots.get(who(req).accountId)),
  );

  app.put(
    "/tls/ca",
    {
      config: { access: "admin", autoPublish: true, errors: [422] },
      schema: {
        tags,
        summary:
          "Replace the root CA with your own (certificate and key in PEM; the key must match). Edges get new intermediates; devices must trust the new root.",
        body: CaImport,
        response: { 200: TlsCaView },
      },
    },
    async (req) => {
      const p = who(req);
      const before = rootView(await roots.get(p.accountId));
      const root = await roots.import(p.accountId, req.body.certificate, req.body.privateKey);
      const after = rootView(root);
      await audit(db, {
        accountId: p.accountId,
        actor: actorOf(p),
        resource: "tls-ca",
        resourceId: p.accountId,
        action: "import",
        // The certificate's facts only: the key never reaches the audit log.
        before: { subject: before.subject, sha256Fingerprint: before.sha256Fingerprint },
        after: { subject: after.subject, sha256Fingerprint: after.sha256Fingerprint },
      });
      return after;
    },
  );

  app.post(
    "/edge/tls/intermediate",
    {
      config: { access: "edge", errors: [422] },
      schema: {
        tags: ["edge"],
        summary:
          "Sign this edge's intermediate CA (PKCS#10 CSR, ECDSA P-256): pathLen 0, 30 days at most",
        body: IntermediateRequest,
        response: { 200: EdgeIntermediateIssued },
      },
    },
    async (req) => {
      const e = req.edge;
      if (!e) throw new GatehouseError("GH_ERR_UNAUTHENTICATED", "not authenticated");
      const row = await db
        .selectFrom("edges")
        .select(["name", "status"])
        .where("id", "=", e.id)
        .executeTakeFirstOrThrow();
      // The credential check answers 410 for a decommissioned edge before this; this guards a
      // decommission that lands between the check and here.
      if (row.status === "decommissioned")
        throw new GatehouseError("GH_ERR_EDGE_DECOMMISSIONED", "the edge is decommissioned");
      return signIntermediate(
        db,
        roots,
        { id: e.id, accountId: e.accountId, name: row.name },
        req.body.csr,
        options.intermediateValidityMs,
      );
    },
  );
}
