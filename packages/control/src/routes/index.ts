// Every resource under /api/v1, registered in one place.

import type { FastifyInstance } from "fastify";
import { accountRoutes } from "./accounts.ts";
import { policyRoutes } from "./policies.ts";

export async function registerRoutes(app: FastifyInstance): Promise<void> {
  await app.register(accountRoutes);
  await app.register(policyRoutes);
}
