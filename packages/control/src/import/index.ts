// `gatehouse import` and POST /import/{product}: another product's configuration file → a plan
// (plan.ts) → the REST API (apply.ts).

import { planPihole, readPihole } from "./pihole.ts";
import type { ImportPlan, ImportProduct } from "./plan.ts";

export { type ApiCall, applyPlan, formatReport, type ImportReport } from "./apply.ts";
export { ImportInputError } from "./pihole.ts";
export { IMPORT_PRODUCTS, type ImportPlan, type ImportProduct, MAX_IMPORT_BYTES } from "./plan.ts";

/** Read one product's configuration file into a plan; ImportInputError when it is not one. */
export async function planImport(product: ImportProduct, bytes: Buffer): Promise<ImportPlan> {
  switch (product) {
    case "pihole": {
      const { data, notes } = await readPihole(bytes);
      return planPihole(data, notes);
    }
  }
}
