// Schemas and helpers shared by the resource routes.

import { GatehouseError } from "@gatehouse/contract";
import { Type as T } from "@sinclair/typebox";
import type { FastifyRequest } from "fastify";
import type { Principal } from "../context.ts";

export const IdParams = T.Object(
  { id: T.String({ minLength: 1, maxLength: 128, pattern: "^[A-Za-z0-9_.:-]+$" }) },
  { additionalProperties: false },
);

export const Stamps = {
  version: T.Integer(),
  createdAt: T.String({ format: "date-time" }),
  updatedAt: T.String({ format: "date-time" }),
};

/** A request to a `/…/:id` route (its params validated by IdParams). */
export type IdRequest = FastifyRequest & { readonly params: { readonly id: string } };

/** The principal of an authenticated API route (the hook guarantees it). */
export function who(req: FastifyRequest): Principal {
  const p = req.principal;
  if (!p) throw new GatehouseError("GH_ERR_UNAUTHENTICATED", "not authenticated");
  return p;
}

export function json(v: unknown): string {
  return JSON.stringify(v);
}

export function jsonOrNull(v: unknown): string | null {
  return v === undefined || v === null ? null : JSON.stringify(v);
}
