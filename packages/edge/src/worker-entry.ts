// An edge worker process (see workers.ts): waits for its config over IPC, starts an edge with
// SO_REUSEPORT UDP sockets, reports ready, and closes gracefully when told to.

import type { ConfigBundle, EdgeConfigFile } from "@gatehouse/contract";
import { type Edge, startEdge } from "./main.ts";

let edge: Edge | undefined;

process.on(
  "message",
  (m: { type?: string; config?: EdgeConfigFile; bundle?: ConfigBundle; id?: number }) => {
    if (m.type === "config" && m.config && !edge) {
      startEdge({
        config: m.config,
        reusePort: true,
        log: (line) => process.send?.({ type: "log", line }),
      }).then(
        (e) => {
          edge = e;
          process.send?.({ type: "ready", addresses: e.addresses });
        },
        (err: Error) => {
          process.send?.({ type: "failed", error: err.message });
          process.exit(1);
        },
      );
    } else if (m.type === "apply" && m.bundle && edge) {
      edge.apply(m.bundle).then(
        () => process.send?.({ type: "applied", id: m.id }),
        (err: Error) => process.send?.({ type: "applied", id: m.id, error: err.message }),
      );
    } else if (m.type === "close") {
      (edge ? edge.close() : Promise.resolve()).then(() => process.exit(0));
    }
  },
);
// Without the primary there is nothing to serve for.
process.on("disconnect", () => process.exit(0));
