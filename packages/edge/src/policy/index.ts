export { BlockingPauses } from "./pauses.ts";
export {
  type CompiledPolicy,
  compilePolicySet,
  PolicyCompileError,
  type PolicyPhase,
  PolicySet,
  policySchemes,
} from "./policy-set.ts";
export { CompiledSchedule } from "./schedule.ts";
