// `gatehouse import` and POST /import/{product}: another product's configuration file → a plan
// (plan.ts) → the REST API (apply.ts).

import { checkExpression, gatewaySchemes } from "@gatehouse/contract";
import type { ListType } from "@gatehouse/rules";
import { planAdGuardHome } from "./adguardhome.ts";
import { planBlocky } from "./blocky.ts";
import { planPihole, readPihole } from "./pihole.ts";
import type { ImportPlan, ImportProduct } from "./plan.ts";

export { type ApiCall, applyPlan, formatReport, type ImportReport } from "./apply.ts";
export { ImportInputError } from "./errors.ts";
export { IMPORT_PRODUCTS, type ImportPlan, type ImportProduct, MAX_IMPORT_BYTES } from "./plan.ts";

/** Read one product's configuration file into a plan; ImportInputError when it is not one. */
export async function planImport(product: ImportProduct, bytes: Buffer): Promise<ImportPlan> {
  return checked(await read(product, bytes));
}

async function read(product: ImportProduct, bytes: Buffer): Promise<ImportPlan> {
  switch (product) {
    case "pihole": {
      const { data, notes } = await readPihole(bytes);
      return planPihole(data, notes);
    }
    case "adguardhome":
      return planAdGuardHome(bytes);
    case "blocky":
      return planBlocky(bytes);
  }
}

/**
 * Every planned policy compiled against the plan's lists (and their `.allow` exceptions) before
 * anything is created: one the rules engine refuses moves to the not-mapped entries with its
 * message, so an import never stops halfway on a bad expression.
 */
function checked(plan: ImportPlan): ImportPlan {
  const lists = new Map<string, ListType>();
  for (const l of plan.lists) {
    lists.set(l.name, "Bytes");
    lists.set(`${l.name}.allow`, "Bytes");
  }
  const scheme = gatewaySchemes().dns;
  const policies = plan.policies.filter((p) => {
    const [problem] = checkExpression(scheme, p.expression, lists);
    if (problem === undefined) return true;
    plan.notMapped.push({
      item: p.name,
      reason: `the rules engine refuses ${p.expression}: ${problem.message}`,
    });
    return false;
  });
  return { ...plan, policies };
}
