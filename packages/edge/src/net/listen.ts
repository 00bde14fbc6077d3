// Listening and closing, once for every edge server (DNS over TCP, DoT, DoH, the proxy, the
// metrics endpoints): `listen` resolves when the server listens and rejects with the bind error
// (EADDRINUSE, EACCES…) instead of leaving it to an `error` handler; `closeServer` is the
// graceful close — stop accepting, ask open connections to finish, destroy what is left after
// the grace period.

import type { AddressInfo, ListenOptions, Server } from "node:net";

/** Listen with `options`; resolves with the bound address, rejects with the listen error. */
export function listen(server: Server, options: ListenOptions): Promise<AddressInfo> {
  return new Promise<AddressInfo>((ok, fail) => {
    server.once("error", fail);
    server.listen(options, () => {
      server.off("error", fail);
      ok(server.address() as AddressInfo);
    });
  });
}

/**
 * Stop accepting, call `shutdown` (ask open connections to finish: end idle ones, GOAWAY), and
 * after `graceMs` call `destroy` for those still open. Resolves when the server has closed.
 */
export async function closeServer(
  server: Server,
  graceMs: number,
  shutdown: () => void,
  destroy?: () => void,
): Promise<void> {
  const done = new Promise<void>((ok) => server.close(() => ok()));
  shutdown();
  const timer = destroy === undefined ? undefined : setTimeout(destroy, graceMs);
  await done;
  clearTimeout(timer);
}
