// /locations/{id}/connect: how a device joins a location (addresses, DoH URL, DoT name, PAC URL,
// certificate, setup steps), and an Apple configuration profile for DoH or DoT. The serving
// addresses come from whoever runs the listeners: `gatehouse up` passes them as
// AppOptions.serving; the edges of a standalone control report theirs in their heartbeat (each
// is listed; the best one gives the top-level answer). Without either the answer is 409.

import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { ConnectInfoView, type EdgeEndpoints, GatehouseError } from "@gatehouse/contract";
import { Type as T } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { API_PREFIX } from "../app.ts";
import { appleProfile } from "../connect/apple-profile.ts";
import { connectEdge, connectInfo, servingOfEdge } from "../connect/connect-info.ts";
import { locationView } from "../views.ts";
import { IdParams, who } from "./common.ts";
import { loadOwned } from "./owned-rows.ts";

const tags = ["locations"];
const ProfileQuery = T.Object(
  { transport: T.Union([T.Literal("doh"), T.Literal("dot")], { default: "doh" }) },
  { additionalProperties: false },
);
/** Edges listed in one Connect answer (a fleet larger than this lists the first ones). */
const MAX_EDGES = 50;

/** Active and fresh first, then stale, then draining ones. */
function rank(e: { status: string; stale: boolean }): number {
  return (e.status === "active" ? 0 : 2) + (e.stale ? 1 : 0);
}

const MOBILECONFIG = "application/x-apple-aspen-config";
const ProfileDocument = {
  description: "An unsigned Apple configuration profile (XML property list)",
  content: { [MOBILECONFIG]: { schema: T.String() } },
};

export async function connectRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { db, serving, options } = app.gatehouse;

  const staleAfterMs = options.heartbeatIntervalMs * 3;

  /**
   * The account's edges that told control what they serve, not decommissioned; every edge serves
   * every location of its account. Active, fresh edges reachable from the network come first.
   */
  const reportingEdges = async (accountId: string) => {
    const rows = await db
      .selectFrom("edges")
      .select(["id", "name", "status", "endpoints", "last_seen_at"])
      .where("account_id", "=", accountId)
      .where("status", "!=", "decommissioned")
      .where("endpoints", "is not", null)
      .orderBy("name")
      .orderBy("id")
      .limit(MAX_EDGES)
      .execute();
    const now = Date.now();
    return rows
      .map((r) => {
        const endpoints = (
          typeof r.endpoints === "string" ? JSON.parse(r.endpoints) : r.endpoints
        ) as EdgeEndpoints;
        const stale = r.last_seen_at === null || now - r.last_seen_at.getTime() > staleAfterMs;
        const s = servingOfEdge(r, endpoints);
        return { id: r.id, name: r.name, status: r.status, stale, serving: s };
      })
      .sort(
        (a, b) =>
          rank(a) - rank(b) ||
          Number(a.serving.scope === "loopback") - Number(b.serving.scope === "loopback"),
      );
  };

  const infoFor = async (accountId: string, id: string) => {
    const row = await loadOwned(
      db,
      { table: "locations", resource: "location", view: locationView },
      accountId,
      id,
    );
    const loc = locationView(row);
    // Under `gatehouse up` this process knows its own listeners (and the dashboard's address);
    // a standalone control knows what its edges reported.
    const local = serving?.();
    const edges = await reportingEdges(accountId);
    const first = local ?? edges[0]?.serving;
    if (!first)
      throw new GatehouseError(
        "GH_ERR_CONFLICT",
        "no edge has reported its listeners yet (edges report them in their heartbeat; an edge older than this control does not): start one with `gatehouse edge --control URL --join-token T`, or run `gatehouse up`",
      );
    const info = connectInfo(loc, first, API_PREFIX);
    if (!edges.length) return info;
    return {
      ...info,
      edges: edges.map((e) => connectEdge(connectInfo(loc, e.serving, API_PREFIX), e)),
    };
  };

  app.get(
    "/locations/:id/connect",
    {
      config: { access: "viewer", errors: [409] },
      schema: {
        tags,
        summary:
          "How a device joins this location: DNS addresses, DoH URL, DoT name, PAC URL, certificate, setup steps",
        params: IdParams,
        response: { 200: ConnectInfoView },
      },
    },
    async (req, reply) => {
      reply.header("cache-control", "no-store");
      return infoFor(who(req).accountId, req.params.id);
    },
  );

  app.get(
    "/locations/:id/connect/apple-profile",
    {
      config: { access: "viewer", errors: [409] },
      schema: {
        tags,
        summary:
          "An Apple configuration profile (.mobileconfig) setting DoH or DoT to this location, with the certificate when devices must be told to trust it",
        params: IdParams,
        querystring: ProfileQuery,
        response: { 200: ProfileDocument },
      },
    },
    async (req, reply) => {
      const info = await infoFor(who(req).accountId, req.params.id);
      const transport = req.query.transport;
      const xml = appleProfile(info, transport);
      if (xml === undefined)
        throw new GatehouseError(
          "GH_ERR_CONFLICT",
          `no ${transport === "doh" ? "DoH" : "DoT"} listener is open: there is nothing to set up`,
        );
      const file = `gatehouse-${info.location.name.replace(/[^A-Za-z0-9-]+/g, "-").slice(0, 40)}-${transport}.mobileconfig`;
      return reply
        .header("content-type", MOBILECONFIG)
        .header("content-disposition", `attachment; filename="${file}"`)
        .header("cache-control", "no-store")
        .send(xml);
    },
  );
}
