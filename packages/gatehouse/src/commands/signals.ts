// Shutdown on SIGINT/SIGTERM: stop accepting, let in-flight work finish (bounded by the
// service's own close), then exit 0. A second signal exits at once.

export function onShutdown(close: () => Promise<void>, log: (line: string) => void): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const handler = (sig: NodeJS.Signals) => {
      if (stopping) {
        log(`gatehouse: ${sig} again, exiting now`);
        process.exit(1);
      }
      stopping = true;
      log(`gatehouse: ${sig}, shutting down`);
      close().then(resolve, (e: unknown) => {
        log(`gatehouse: error while shutting down: ${e instanceof Error ? e.message : String(e)}`);
        resolve();
      });
    };
    process.on("SIGINT", handler);
    process.on("SIGTERM", handler);
  });
}
