// /locations/{id}/connect: how a device joins a location (addresses, DoH URL, DoT name, PAC URL,
// certificate, setup steps), and an Apple configuration profile for DoH or DoT. The serving
// addresses come from whoever runs the listeners (`gatehouse up` passes them as
// AppOptions.serving); a control without them answers 409.

import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { ConnectInfoView, GatehouseError } from "@gatehouse/contract";
import { Type as T } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { API_PREFIX } from "../app.ts";
import { appleProfile } from "../connect/apple-profile.ts";
import { connectInfo } from "../connect/connect-info.ts";
import { locationView } from "../views.ts";
import { IdParams, who } from "./common.ts";
import { loadOwned } from "./owned-rows.ts";

const tags = ["locations"];
const ProfileQuery = T.Object(
  { transport: T.Union([T.Literal("doh"), T.Literal("dot")], { default: "doh" }) },
  { additionalProperties: false },
);
const MOBILECONFIG = "application/x-apple-aspen-config";
const ProfileDocument = {
  description: "An unsigned Apple configuration profile (XML property list)",
  content: { [MOBILECONFIG]: { schema: T.String() } },
};

export async function connectRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { db, serving } = app.gatehouse;

  const infoFor = async (accountId: string, id: string) => {
    const row = await loadOwned(
      db,
      { table: "locations", resource: "location", view: locationView },
      accountId,
      id,
    );
    const endpoints = serving?.();
    if (!endpoints)
      throw new GatehouseError(
        "GH_ERR_CONFLICT",
        "this control does not know where the DNS and proxy listeners are (they are known when it runs under `gatehouse up`)",
      );
    return connectInfo(locationView(row), endpoints, API_PREFIX);
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
