// N generated DNS policies for the DNS benchmarks, none matching the benchmarks' names (so every
// policy is evaluated for every query that runs the pipeline): a third list lookups
// (`any(dns.domains[*] in $gK)`, 1,000 names each), a third regex matches on `dns.fqdn`, a third
// `ends_with`. Used by policy-path.ts (in-process) and run.ts (`--policies N`, from outside).

import type { EdgeConfigFile } from "@gatehouse/contract";

export type Policy = NonNullable<EdgeConfigFile["policies"]>[number];
export type List = NonNullable<EdgeConfigFile["lists"]>[number];

/** What a generated policy tests: each in turn ("mixed"), or all one kind. */
export type PolicyKind = "mixed" | "list" | "regex" | "ends_with";

/** `n` generated policies (precedence from `firstPrecedence`) and the lists they read. */
export function generatedPolicies(
  n: number,
  firstPrecedence = 1,
  kind: PolicyKind = "mixed",
): { lists: List[]; policies: Policy[] } {
  const lists: List[] = [];
  const policies: Policy[] = [];
  const add = (id: string, expression: string) =>
    policies.push({
      id,
      name: id,
      type: "dns",
      enabled: true,
      precedence: firstPrecedence + policies.length,
      expression,
      action: "block",
    });
  const kinds = ["list", "regex", "ends_with"] as const;
  for (let k = 0; k < n; k++) {
    const of = kind === "mixed" ? kinds[k % 3] : kind;
    if (of === "list") {
      const items: string[] = [];
      for (let j = 0; j < 1000; j++) items.push(`ad${j}.list${k}.example`);
      lists.push({ id: `g${k}`, name: `g${k}`, type: "domain", items });
      add(`g${k}`, `any(dns.domains[*] in $g${k})`);
    } else if (of === "regex")
      add(`g${k}`, `dns.fqdn matches "^ads${k}[0-9]*[.]tracker[.]example$"`);
    else add(`g${k}`, `ends_with(dns.fqdn, ".tracker${k}.example")`);
  }
  return { lists, policies };
}
