// Response serializers compiled on first use instead of at start-up.
//
// Fastify compiles a fast-json-stringify serializer for every response schema of every route
// when the app is built: for control's ~100 operations that is most of the CPU of a start
// (profiled: ~4 s per start of a test app, more than the database's migrations) and memory for
// code that serves routes nobody calls on a small install. Here each route's serializer is
// compiled the first time that route answers with that status, with fast-json-stringify as
// before, so the bytes on the wire are the same. A schema error then shows at the first
// response instead of at start-up; `compileAllSerializers` compiles what is still pending, for
// the test that proves every schema compiles.

import { SerializerSelector } from "@fastify/fast-json-stringify-compiler";

type Factory = ReturnType<typeof SerializerSelector>;
type RouteCompiler = ReturnType<Factory>;
type RouteDefinition = Parameters<RouteCompiler>[0];
type Serializer = ReturnType<RouteCompiler>;

export interface LazySerializers {
  /** For Fastify's `schemaController.compilersFactory.buildSerializer`. */
  readonly buildSerializer: Factory;
  /** Compile every serializer not compiled yet; returns how many were compiled. */
  compileAllSerializers(): number;
}

export function lazySerializers(): LazySerializers {
  const eager = SerializerSelector();
  const pending = new Set<() => void>();
  const buildSerializer: Factory = (externalSchemas, options) => {
    const compileRoute = eager(externalSchemas, options);
    return (route: RouteDefinition): Serializer => {
      let compiled: Serializer | undefined;
      const compile = (): Serializer => {
        if (compiled === undefined) {
          compiled = compileRoute(route);
          pending.delete(compile);
        }
        return compiled;
      };
      pending.add(compile);
      return (doc: unknown) => (compiled ?? compile())(doc);
    };
  };
  return {
    buildSerializer,
    compileAllSerializers() {
      let n = 0;
      for (const compile of [...pending]) {
        compile();
        n++;
      }
      return n;
    },
  };
}
