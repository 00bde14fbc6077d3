// The `yaml` package (72 modules, ~0.3 MB of source) loads on the first YAML export, import or
// error span, not with control: most controls never read or write YAML. Synchronous (the package's
// Node entry is CommonJS, the same instance an `import` gets), so its callers stay synchronous.

import { createRequire } from "node:module";

type Yaml = typeof import("yaml");

let loaded: Yaml | undefined;

export function yaml(): Yaml {
  loaded ??= createRequire(import.meta.url)("yaml") as Yaml;
  return loaded;
}
