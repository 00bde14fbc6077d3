import { isUtf8 } from "node:buffer";

// /config: publish bundles, list and diff versions, check without publishing, and export or
// import the whole account configuration as YAML.

import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import {
  BundleDiff,
  type BundleSummary,
  ConfigBundle,
  ConfigCheck,
  ConfigCheckWithTests,
  ConfigPlanResult,
  ConfigVersion,
  checkBundle,
  GatehouseError,
  ImportResult,
  Page,
  PolicyTests,
  PublishPreview,
  PublishResult,
  RollbackResult,
  shadowedPolicies,
} from "@gatehouse/contract";
import { Type as T } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { ACCOUNT_DOCUMENTS, replaceAccountDocument } from "../account-documents.ts";
import { simulate } from "../analytics/simulate.ts";
import { AnalyticsInputError } from "../analytics/types.ts";
import { audit } from "../audit.ts";
import { activePauses, compileContent, pauseToBundle } from "../bundle/compile.ts";
import { adoptIds, planDocument } from "../bundle/config-plan.ts";
import { diffBundles } from "../bundle/diff.ts";
import {
  applyImport,
  exportDocument,
  parseDocument,
  prepareImport,
  toYaml,
} from "../bundle/export-import.ts";
import { runPolicyTests, storedPolicyTests, type TestedConfig } from "../bundle/policy-tests.ts";
import { previewPublish } from "../bundle/preview.ts";
import { type Publisher, type StoredBundle, sendBundle } from "../bundle/publisher.ts";
import { withYamlSpans, yamlSpans } from "../bundle/yaml-spans.ts";
import { actorOf, type Db } from "../context.ts";
import { decodeCursor, page } from "../http/conventions.ts";
import { notFound } from "../http/errors.ts";
import { YamlDocument } from "../http/responses.ts";
import { who } from "./common.ts";

const VersionParams = T.Object(
  { version: T.Integer({ minimum: 1, maximum: 2_000_000_000 }) },
  { additionalProperties: false },
);
const DiffParams = T.Object(
  {
    from: T.Integer({ minimum: 1, maximum: 2_000_000_000 }),
    to: T.Integer({ minimum: 1, maximum: 2_000_000_000 }),
  },
  { additionalProperties: false },
);
const VersionNumber = T.Integer({ minimum: 1, maximum: 2_000_000_000 });
const PublishBody = T.Object(
  {
    force: T.Optional(T.Boolean()),
    /** Skip the rollout plan: every edge at once (audited as publish-emergency). */
    emergency: T.Optional(T.Boolean()),
  },
  { additionalProperties: false },
);
const RollbackBody = T.Object({ version: VersionNumber }, { additionalProperties: false });
const VersionsQuery = T.Object(
  {
    limit: T.Optional(T.Integer({ minimum: 1, maximum: 1000, default: 50 })),
    cursor: T.Optional(T.String({ maxLength: 64 })),
  },
  { additionalProperties: false },
);
const tags = ["config"];
const TestsBody = T.Object({ tests: PolicyTests }, { additionalProperties: false });

async function loadBundle(publisher: Publisher, accountId: string, version: number) {
  const b = await publisher.bundleAt(accountId, version);
  if (!b) throw notFound(`bundle version ${version}`);
  return b;
}

export async function configRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { db, publisher, options } = app.gatehouse;

  app.post(
    "/config/publish",
    {
      config: { access: "editor", errors: [422] },
      schema: {
        tags,
        summary: "Compile and publish the account's configuration as a new bundle version",
        description:
          "422 GH_ERR_CONFIG_REJECTED (with problems) when it does not compile; nothing is published then. `changed: false` when nothing changed since the latest version (unless force). With a rollout plan the new version starts a staged rollout (GET /rollouts); 409 while one is running, unless `emergency: true`, which sends it to every edge at once (audited as publish-emergency).",
        body: PublishBody,
        response: { 200: PublishResult },
      },
    },
    async (req) => {
      const p = who(req);
      const b = req.body;
      return publisher.publish(p.accountId, actorOf(p), {
        force: b.force ?? false,
        emergency: b.emergency ?? false,
      });
    },
  );

  app.post(
    "/config/rollback",
    {
      config: { access: "admin", errors: [404, 422] },
      schema: {
        tags,
        summary: "Make an earlier version current again, published as a new version",
        description:
          "Stores `version`'s content as the next version (versions only grow, so edges apply it like any publish) and records audit action `rollback`. The account's policies, lists and settings are not changed: the next publish ships them again. `changed: false` when the latest version already has that content. 404 for an unknown version; 422 GH_ERR_CONFIG_REJECTED when that bundle no longer passes validation.",
        body: RollbackBody,
        response: { 200: RollbackResult },
      },
    },
    async (req) => {
      const p = who(req);
      const b = req.body;
      return publisher.rollback(p.accountId, actorOf(p), b.version);
    },
  );

  app.get(
    "/config/check",
    {
      config: { access: "viewer" },
      schema: {
        tags,
        summary: "Validate the current configuration without publishing",
        description:
          "`problems` would make a publish fail (`ok: false`). `warnings` never do: each names an enabled policy that can never match because one evaluated before it (first match wins; DNS query-phase policies before response-phase ones, HTTP `do_not_inspect` first, network before HTTP) always matches first.",
        response: { 200: ConfigCheck },
      },
    },
    async (req) => {
      const { problems, warnings } = await publisher.check(who(req).accountId);
      return {
        ok: problems.length === 0,
        problems: problems.slice(0, 100),
        warnings: warnings.slice(0, 100),
      };
    },
  );

  app.get(
    "/config/preview",
    {
      config: { access: "viewer" },
      schema: {
        tags,
        summary:
          "What the next publish would change against the live bundle, in names, with its effect on the last 24 hours of traffic",
        description:
          "Policies, lists, locations, users and devices added, removed and changed (by name), the items each list gains and loses (counts and up to 10 of each), the stored policy tests' results, and `simulation`: the draft's policies replayed over the last 24 hours of the account's logged traffic (`newlyBlocked` and `newlyAllowed` with their top 10 domains and clients), null without a query log. Nothing is published.",
        response: { 200: PublishPreview },
      },
    },
    async (req) => {
      const accountId = who(req).accountId;
      const [content, live, cases] = await Promise.all([
        compileContent(db, accountId, app.gatehouse.roots),
        publisher.latest(accountId),
        storedPolicyTests(db, accountId),
      ]);
      const problems = checkBundle({ ...content, version: 0 });
      const liveBundle = live ? (JSON.parse(await live.text()) as ConfigBundle) : undefined;
      const names = previewPublish(liveBundle, content);
      const ok = problems.length === 0;
      const tests = ok ? runPolicyTests(content, cases) : { passed: 0, failed: 0, results: [] };
      let simulation: Awaited<ReturnType<typeof simulate>> | null = null;
      let simulationNote: string | undefined;
      const store = app.gatehouse.analytics;
      if (!store) simulationNote = "control keeps no query log: no traffic to replay";
      else if (!ok) simulationNote = "the draft does not compile";
      else {
        const to = Date.now();
        try {
          simulation = await simulate(store, {
            from: to - 24 * 3600_000,
            to,
            accountId,
            policies: content.policies,
            lists: content.lists,
            limit: 10,
            kinds: ["dns", "http", "net"],
          });
        } catch (e) {
          if (!(e instanceof AnalyticsInputError)) throw e;
          simulationNote = e.message;
        }
      }
      return {
        ...names,
        ok,
        problems: problems.slice(0, 100).map((x) => ({ path: x.path, message: x.message })),
        tests,
        simulation,
        ...(simulationNote !== undefined ? { simulationNote } : {}),
      };
    },
  );

  app.get(
    "/config/tests",
    {
      config: { access: "viewer" },
      schema: {
        tags,
        summary: "The account's policy tests (cases and what each expects)",
        response: { 200: TestsBody },
      },
    },
    async (req) => ({ tests: await storedPolicyTests(db, who(req).accountId) }),
  );

  app.put(
    "/config/tests",
    {
      config: { access: "editor" },
      schema: {
        tags,
        summary: "Replace the account's policy tests",
        description:
          "Every publish runs them first: a failing case refuses the publish (422 GH_ERR_CONFIG_REJECTED naming the case and the deciding policy). Stored even when a case fails now; POST /config/check shows the results.",
        body: TestsBody,
        response: { 200: TestsBody },
      },
    },
    async (req) => {
      const p = who(req);
      const tests = req.body.tests;
      await db.transaction().execute(async (trx) => {
        const before = await replaceAccountDocument(
          trx,
          ACCOUNT_DOCUMENTS.policyTests,
          p.accountId,
          actorOf(p),
          tests,
        );
        await audit(trx, {
          accountId: p.accountId,
          actor: actorOf(p),
          resource: "policy-tests",
          resourceId: null,
          action: "update",
          ...(Array.isArray(before) ? { before: { tests: before.length } } : {}),
          after: { tests: tests.length },
        });
      });
      return { tests };
    },
  );

  app.get(
    "/config/versions",
    {
      config: { access: "viewer" },
      schema: {
        tags,
        summary: "Published bundle versions, newest first",
        querystring: VersionsQuery,
        response: { 200: Page(ConfigVersion) },
      },
    },
    async (req) => {
      const p = who(req);
      const q = req.query;
      const limit = q.limit ?? 50;
      const c = decodeCursor(q.cursor);
      if (c !== undefined && !/^\d{1,10}$/.test(c))
        throw new GatehouseError("GH_ERR_BAD_REQUEST", "malformed cursor");
      let query = db
        .selectFrom("bundles")
        .select(["version", "hash", "created_at", "created_by", "summary"])
        .where("account_id", "=", p.accountId);
      if (c !== undefined) query = query.where("version", "<", Number(c));
      const rows = await query
        .orderBy("version", "desc")
        .limit(limit + 1)
        .execute();
      return page(
        rows,
        limit,
        (r) => String(r.version),
        (r) => ({
          version: r.version,
          hash: r.hash,
          createdAt: r.created_at.toISOString(),
          createdBy: r.created_by,
          summary: r.summary as BundleSummary | null,
        }),
      );
    },
  );

  app.get(
    "/config/versions/:version",
    {
      // A bundle carries the proxy credential hashes: secrets are for admins only.
      config: { access: "admin" },
      schema: {
        tags,
        summary: "One published bundle, as edges receive it (admin: it holds credential hashes)",
        params: VersionParams,
        response: { 200: ConfigBundle },
      },
    },
    async (req, reply) => {
      const p = who(req);
      const { version } = req.params;
      return sendBundle(req, reply, await loadBundle(publisher, p.accountId, version));
    },
  );

  app.get(
    "/config/versions/:from/diff/:to",
    {
      config: { access: "viewer" },
      schema: {
        tags,
        summary: "What changed between two versions",
        params: DiffParams,
        response: { 200: BundleDiff },
      },
    },
    async (req) => {
      const p = who(req);
      const { from, to } = req.params;
      const [a, b] = await Promise.all([
        loadBundle(publisher, p.accountId, from),
        loadBundle(publisher, p.accountId, to),
      ]);
      const parse = async (x: StoredBundle) => JSON.parse(await x.text()) as ConfigBundle;
      return diffBundles(await parse(a), await parse(b));
    },
  );

  app.get(
    "/config/export",
    {
      // The document carries the proxy credential hashes: secrets are for admins only.
      config: { access: "admin" },
      schema: {
        tags,
        summary: "The whole account configuration as YAML (admin: it holds credential hashes)",
        response: { 200: YamlDocument },
      },
    },
    async (req, reply) => {
      const doc = await exportDocument(db, who(req).accountId);
      return reply.header("content-type", "application/yaml; charset=utf-8").send(toYaml(doc));
    },
  );

  // Imports are YAML (or JSON) text, possibly large: their own scope and body limit.
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(
      ["application/yaml", "application/x-yaml", "text/yaml", "text/plain", "application/json"],
      { parseAs: "buffer", bodyLimit: options.bulkBodyLimit },
      (_req, body, done) => {
        const buf = body as Buffer;
        // RFC 9512 §3: YAML media types are UTF-8 here; invalid bytes are refused, not mangled.
        if (!Buffer.isBuffer(buf) || !isUtf8(buf)) {
          done(new GatehouseError("GH_ERR_BAD_REQUEST", "body is not valid UTF-8"), undefined);
          return;
        }
        done(null, buf.toString("utf8"));
      },
    );
    scope.post(
      "/config/check",
      {
        config: { access: "viewer", errors: [422] },
        schema: {
          tags,
          summary:
            "Validate and run the policy tests, on the account's draft or on a sent YAML document",
          description:
            "Without a body: the configuration a publish would ship now and the account's stored tests. With a YAML (or JSON) document as GET /config/export writes it: that document and its `tests`, nothing stored. `ok` is false when the configuration does not compile or a test fails. Each test result names the deciding policy; with a document, results, problems and `spans` carry 1-based line and column in the YAML. A document that is not a configuration answers 422 with the problems located the same way.",
          response: { 200: ConfigCheckWithTests },
        },
      },
      async (req) => {
        const p = who(req);
        const text = typeof req.body === "string" ? req.body : "";
        // No document (or an empty JSON object, as a plain API call sends): the account's draft.
        if (text.trim() === "" || text.trim() === "{}") {
          const { problems, warnings, tests } = await publisher.check(p.accountId);
          return {
            ok: problems.length === 0 && tests.failed === 0,
            problems: problems.slice(0, 100),
            warnings: warnings.slice(0, 100),
            tests,
          };
        }
        const spanOf = yamlSpans(text);
        let prepared: ReturnType<typeof prepareImport>;
        try {
          prepared = prepareImport(parseDocument(text), p.accountId);
        } catch (err) {
          if (err instanceof GatehouseError && err.code === "GH_ERR_VALIDATION") {
            const located = withYamlSpans(err, spanOf) as GatehouseError;
            const problems = (located.details as { problems: { path: string; message: string }[] })
              .problems;
            return {
              ok: false,
              problems: problems.slice(0, 100).map((x) => ({ path: x.path, message: x.message })),
              warnings: [],
              tests: { passed: 0, failed: 0, results: [] },
              spans: spansOf(problems, spanOf),
            };
          }
          throw err;
        }
        // The pauses in force are account state, not configuration: the tests see them.
        const pauses = (await activePauses(db, p.accountId)).map(pauseToBundle);
        const tests = runPolicyTests({ ...prepared.candidate, pauses }, prepared.doc.tests ?? [], {
          spanOf,
        });
        publisher.countTests("document", tests);
        const warnings = shadowedPolicies(prepared.candidate);
        return {
          ok: tests.failed === 0,
          problems: [],
          warnings: warnings.slice(0, 100),
          tests,
          spans: spansOf(warnings, spanOf),
        };
      },
    );

    scope.post(
      "/config/plan",
      {
        config: { access: "admin", errors: [422] },
        schema: {
          tags,
          summary:
            "What applying a YAML document (PUT /config/export) would change, and its policy tests",
          description:
            "Things are matched by id; those the document names without an id take the id of the account's thing of the same name (policies by type and name, lists, locations and local zones by name, users by email, devices by name), so a hand-written document applied twice changes nothing the second time. Sections the document leaves out are not compared. `tests` runs the document's tests (the stored ones when it has none) against the document. A document that does not validate is a 422 whose problems carry their YAML line and column. Admin, as the import it previews.",
          response: { 200: ConfigPlanResult },
        },
      },
      async (req) => {
        const p = who(req);
        if (typeof req.body !== "string" || req.body.trim() === "")
          throw new GatehouseError("GH_ERR_BAD_REQUEST", "send the YAML document as the body");
        const { current, prepared, tested, spanOf } = await prepareYaml(db, p.accountId, req.body);
        const plan = planDocument(current, prepared.doc);
        const own = prepared.doc.tests !== undefined;
        const tests = runPolicyTests(
          tested,
          prepared.doc.tests ?? current.tests ?? [],
          own ? { spanOf } : {},
        );
        publisher.countTests("document", tests);
        return { ...plan, tests };
      },
    );

    scope.put(
      "/config/export",
      {
        config: { access: "admin", autoPublish: true, errors: [422] },
        schema: {
          tags,
          summary: "Replace the account configuration with a YAML document (validated whole first)",
          description:
            "Policies, lists, locations, users, devices, resolver and settings are replaced in one transaction. Credentials travel as their scrypt hashes. A document without a devices key keeps the account's devices.",
          response: { 200: ImportResult },
        },
      },
      async (req) => {
        const p = who(req);
        if (typeof req.body !== "string" || req.body.length === 0)
          throw new GatehouseError("GH_ERR_BAD_REQUEST", "send the YAML document as the body");
        const { prepared } = await prepareYaml(db, p.accountId, req.body);
        const counts = await applyImport(db, p.accountId, actorOf(p), prepared);
        return { imported: counts };
      },
    );
  });
}

/** The YAML place of each problem or warning that has one. */
function spansOf(
  items: readonly { path: string }[],
  spanOf: (path: string) => { line: number; column: number } | undefined,
): { path: string; line: number; column: number }[] {
  const out: { path: string; line: number; column: number }[] = [];
  for (const x of items.slice(0, 100)) {
    const s = spanOf(x.path);
    if (s) out.push({ path: x.path, ...s });
  }
  return out;
}

/**
 * A YAML document checked as an import would check it, with the ids of the account's things of
 * the same name adopted; a 422's problems carry their line and column in the YAML.
 */
async function prepareYaml(db: Db, accountId: string, text: string) {
  const spanOf = yamlSpans(text);
  const [current, pauses] = await Promise.all([
    exportDocument(db, accountId),
    activePauses(db, accountId),
  ]);
  let prepared: ReturnType<typeof prepareImport>;
  try {
    prepared = prepareImport(adoptIds(current, parseDocument(text)), accountId);
  } catch (err) {
    throw withYamlSpans(err, spanOf);
  }
  // What the policy tests run against: the document, the account's local zones when it leaves
  // them out (an import keeps them), and the pauses in force (account state, not configuration).
  const zones = prepared.doc.localZones ?? current.localZones ?? [];
  const tested: TestedConfig = {
    ...prepared.candidate,
    localZones: zones.map((z, i) => ({ ...z, id: z.id ?? `zone-${i}` })),
    pauses: pauses.map(pauseToBundle),
  };
  return { current, prepared, tested, spanOf };
}
