// Every resource under /api/v1, registered in one place.

import type { FastifyInstance } from "fastify";
import { accountRoutes } from "./accounts.ts";
import { auditRoutes } from "./audit-log.ts";
import { clientNameRoutes } from "./client-names.ts";
import { clientRoutes } from "./clients.ts";
import { configRoutes } from "./config.ts";
import { connectRoutes } from "./connect.ts";
import { edgeRoutes } from "./edges.ts";
import { identityRoutes } from "./identities.ts";
import { importRoutes } from "./import.ts";
import { listRoutes } from "./lists.ts";
import { localZoneRoutes } from "./local-zones.ts";
import { locationRoutes } from "./locations.ts";
import { pauseRoutes } from "./pause.ts";
import { policyRoutes } from "./policies.ts";
import { quickRuleRoutes } from "./quick-rules.ts";
import { rolloutRoutes } from "./rollouts.ts";
import { settingsRoutes } from "./settings.ts";
import { subscriptionRoutes } from "./subscriptions.ts";
import { tlsRoutes } from "./tls.ts";
import { userRoutes } from "./users.ts";

export async function registerRoutes(app: FastifyInstance): Promise<void> {
  await app.register(accountRoutes);
  await app.register(policyRoutes);
  await app.register(listRoutes);
  await app.register(locationRoutes);
  await app.register(localZoneRoutes);
  await app.register(connectRoutes);
  await app.register(identityRoutes);
  await app.register(settingsRoutes);
  await app.register(subscriptionRoutes);
  await app.register(auditRoutes);
  await app.register(configRoutes);
  await app.register(edgeRoutes);
  await app.register(importRoutes);
  await app.register(quickRuleRoutes);
  await app.register(pauseRoutes);
  await app.register(rolloutRoutes);
  await app.register(tlsRoutes);
  await app.register(userRoutes);
  await app.register(clientNameRoutes);
  await app.register(clientRoutes);
}
