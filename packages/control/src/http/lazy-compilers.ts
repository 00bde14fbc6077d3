// Request validators and response serializers compiled on first use instead of at start-up.
//
// Fastify compiles an Ajv validator for every request schema and a fast-json-stringify
// serializer for every response schema of every route when the app is built: for control's
// ~100 operations that was most of the CPU of a start (profiled: 10 of 39 s in a script that
// builds three test apps went to the serializers, ~1.5 s to Ajv) and memory for code that serves
// routes nobody calls on a small install. Here each is compiled the first time its route needs
// it, by the same compilers with the same options, so what is accepted and what is sent are the
// same. A schema error then shows at first use instead of at start-up; `compileAll` compiles
// what is still pending, for the test that proves every schema compiles.

import AjvCompiler from "@fastify/ajv-compiler";
import { SerializerSelector } from "@fastify/fast-json-stringify-compiler";

type SerializerFactory = ReturnType<typeof SerializerSelector>;
type SerializerCompiler = ReturnType<SerializerFactory>;
type Serializer = ReturnType<SerializerCompiler>;
type ValidatorFactory = ReturnType<typeof AjvCompiler>;

/**
 * A route's validator as Fastify calls it: it reads `errors` after a `false`, and passes the
 * request as the parent (so Ajv may coerce a root value in place) when `schemaEnv` is set, as it
 * is on every Ajv function.
 */
interface Validator {
  (data: unknown, parent?: unknown): unknown;
  errors?: unknown;
  schemaEnv?: unknown;
}

export interface LazyCompilers {
  /** For Fastify's `schemaController.compilersFactory`. */
  readonly compilersFactory: {
    readonly buildValidator: ValidatorFactory;
    readonly buildSerializer: SerializerFactory;
  };
  /** Compile every validator and serializer not compiled yet; returns how many. */
  compileAll(): number;
}

export function lazyCompilers(): LazyCompilers {
  const pending = new Set<() => void>();

  /** `compile` once, on the first call of the returned thunk or by compileAll. */
  const once = <T>(compile: () => T): (() => T) => {
    let compiled: T | undefined;
    const get = (): T => {
      if (compiled === undefined) {
        compiled = compile();
        pending.delete(get);
      }
      return compiled;
    };
    pending.add(get);
    return get;
  };

  const eagerSerializers = SerializerSelector();
  const buildSerializer: SerializerFactory = (externalSchemas, options) => {
    const compileRoute = eagerSerializers(externalSchemas, options);
    return (route): Serializer => {
      const get = once(() => compileRoute(route));
      return (doc: unknown) => get()(doc);
    };
  };

  const eagerValidators = AjvCompiler();
  const buildValidator = ((externalSchemas: unknown, options: unknown) => {
    const compileRoute = (eagerValidators as (s: unknown, o: unknown) => (r: unknown) => Validator)(
      externalSchemas,
      options,
    );
    return (route: unknown): Validator => {
      const get = once(() => compileRoute(route));
      const validate: Validator = (data, parent) => {
        const compiled = get();
        const ok = compiled.schemaEnv ? compiled(data, parent) : compiled(data);
        validate.errors = compiled.errors;
        return ok;
      };
      validate.schemaEnv = true;
      return validate;
    };
  }) as ValidatorFactory;

  return {
    compilersFactory: { buildValidator, buildSerializer },
    compileAll() {
      let n = 0;
      for (const compile of [...pending]) {
        compile();
        n++;
      }
      return n;
    },
  };
}
