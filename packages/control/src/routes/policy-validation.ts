// Semantic checks of a policy before it is stored: the action suits the type, the settings suit
// the action, the schedule's time zone exists, and the expression compiles against the type's
// scheme with every `$list` declared in this account with the right type (422 otherwise, with
// the rules engine's kind, message and span).

import { isIP } from "node:net";
import {
  type BundleProblem,
  checkExpression,
  checkPolicySettings,
  GatehouseError,
  gatewaySchemes,
  LIST_RULE_TYPE,
  type ListKind,
  POLICY_ACTIONS,
  type Policy,
  type PolicySettings,
  type PolicyType,
  type Schedule,
} from "@gatehouse/contract";
import type { ListType } from "@gatehouse/rules";
import type { Db } from "../context.ts";

async function accountListTypes(db: Db, accountId: string): Promise<Map<string, ListType>> {
  const rows = await db
    .selectFrom("lists")
    .select(["name", "type"])
    .where("account_id", "=", accountId)
    .execute();
  const out = new Map<string, ListType>();
  for (const r of rows) {
    out.set(r.name, LIST_RULE_TYPE[r.type as ListKind]);
    // Adblock exceptions of a domain list (contract: `<name>.allow`).
    if (r.type === "domain") out.set(`${r.name}.allow`, "Bytes");
  }
  return out;
}

export function ruleError(problems: readonly BundleProblem[]): GatehouseError {
  const first = problems[0];
  if (first === undefined) return new GatehouseError("GH_ERR_INVALID_RULE", "the rule is invalid");
  const rule = first.rule;
  return new GatehouseError("GH_ERR_INVALID_RULE", first.message, {
    ...(rule ? { kind: rule.kind, span: { start: rule.span[0], length: rule.span[1] } } : {}),
    path: first.path,
    problems: problems.map((p) => ({
      path: p.path,
      message: p.message,
      ...(p.rule
        ? { kind: p.rule.kind, span: { start: p.rule.span[0], length: p.rule.span[1] } }
        : {}),
    })),
  });
}

export interface PolicyShape {
  readonly type: PolicyType;
  readonly expression: string;
  readonly action: string;
  readonly settings?: PolicySettings | null;
  readonly schedule?: Schedule | null;
}

function invalid(message: string, path: string): GatehouseError {
  return new GatehouseError("GH_ERR_VALIDATION", message, { path });
}

function validTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export function checkPolicyShape(p: PolicyShape): void {
  const actions: readonly string[] = POLICY_ACTIONS[p.type];
  if (!actions.includes(p.action))
    throw invalid(
      `action "${p.action}" is not valid for a ${p.type} policy (one of ${actions.join(", ")})`,
      "/action",
    );
  const s = p.settings ?? undefined;
  if (p.action === "override" && !s?.overrideIps?.length && !s?.overrideHost)
    throw invalid("an override needs settings.overrideIps or settings.overrideHost", "/settings");
  s?.overrideIps?.forEach((ip, i) => {
    if (isIP(ip) === 0) throw invalid(`"${ip}" is not an IP address`, `/settings/overrideIps/${i}`);
  });
  const settingsProblem = checkPolicySettings({
    type: p.type,
    action: p.action as Policy["action"],
    settings: s,
  })[0];
  if (settingsProblem) throw invalid(settingsProblem.message, settingsProblem.path);
  const sch = p.schedule ?? undefined;
  if (sch && !validTimeZone(sch.timeZone))
    throw invalid(`unknown time zone "${sch.timeZone}"`, "/schedule/timeZone");
  // A window whose end is not after its start runs past midnight (22:00–06:00) and belongs to
  // the day it starts on (contract's scheduleWeek): nothing to refuse.
}

export async function validatePolicy(db: Db, accountId: string, p: PolicyShape): Promise<void> {
  checkPolicyShape(p);
  const lists = await accountListTypes(db, accountId);
  const problems = checkExpression(gatewaySchemes()[p.type], p.expression, lists);
  if (problems.length > 0) throw ruleError(problems);
}
