// Reading a YAML configuration (AdGuardHome.yaml, Blocky's config.yml) defensively: any key may
// be missing or of another type than documented.

import { yaml } from "../yaml.ts";
import { ImportInputError } from "./errors.ts";

export type Obj = Record<string, unknown>;
export const obj = (v: unknown): Obj =>
  v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Obj) : {};
export const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
export const str = (v: unknown) =>
  typeof v === "string" ? v : v === undefined || v === null ? "" : String(v);

export function readYamlObject(bytes: Buffer, what: string): Obj {
  let doc: unknown;
  try {
    doc = yaml().parse(bytes.toString("utf8"), { maxAliasCount: 1000 });
  } catch (e) {
    throw new ImportInputError(`not valid YAML: ${(e as Error).message.split("\n")[0]}`);
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc))
    throw new ImportInputError(`not ${what}: the document is not a mapping`);
  return doc as Obj;
}
