// @gatehouse/rules: Cloudflare's Rules language (wirefilter) as a standalone library.
export type * from "./api.ts";
export type * from "./ast.ts";
export type { FilterAst as Ast } from "./ast.ts";
export { fromBytes, toBytes } from "./bytes.ts";
export { Context, MapValue } from "./context.ts";
export { RuleErrorImpl } from "./errors.ts";
export type { FilterGroup } from "./filter-group.ts";
export { format, formatLiteral, formatSetItems, quoteBytes, rawString } from "./format.ts";
export { BUILTIN_FUNCTIONS } from "./functions.ts";
export {
  compareIp,
  formatIp,
  formatIpv4,
  formatIpv6,
  parseIp,
  parseIpv4,
  parseIpv6,
  v4Mask,
} from "./ip.ts";
export { BytesList, createListSet, IntList, IpList, ListRegistry } from "./lists.ts";
export {
  type CompiledRegex,
  compileRegex,
  compileRegexUnion,
  regexCacheClears,
} from "./regex/index.ts";
export { type CompileOptions, type ParseOptions, Scheme } from "./scheme.ts";
export { evalSkeleton, type Tri } from "./skeleton.ts";
export { parseType, typeToString } from "./types.ts";
