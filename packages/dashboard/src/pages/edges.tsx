// Edges: each enrolled edge's health (stale after three missed heartbeats), software, and the
// config version it applied against the one it should run (its pin, else the latest); hold an
// edge at a version while others take a new one (staged rollout), and let it go again.
// Refreshes every 5 s.

import { api } from "../api.ts";
import type { ConfigVersion, Edge, Page } from "../types.ts";
import {
  Badge,
  ConfirmButton,
  EmptyRow,
  ErrorBanner,
  formatAgo,
  formatDuration,
  useAction,
  useResource,
} from "../ui.tsx";

const POLL_MS = 5000;

function health(e: Edge): string {
  if (e.status === "decommissioned") return "decommissioned";
  if (e.stale) return "stale";
  return e.status === "draining" ? "draining" : "healthy";
}

export function EdgesPage() {
  const edges = useResource(
    "edges",
    (signal) => api.get<Page<Edge>>("/edges", { limit: 1000 }, signal),
    POLL_MS,
  );
  const latest = useResource(
    "latest-version",
    (signal) => api.get<Page<ConfigVersion>>("/config/versions", { limit: 1 }, signal),
    POLL_MS,
  );
  const action = useAction();
  const latestVersion = latest.data?.items[0]?.version;
  const setStatus = (e: Edge, to: "drain" | "activate") =>
    action.run(async () => {
      await api.post(`/edges/${encodeURIComponent(e.id)}/${to}`);
      edges.reload();
    });
  const setPin = (e: Edge, version: number | null) =>
    action.run(async () => {
      const path = `/edges/${encodeURIComponent(e.id)}/pin`;
      await (version === null ? api.del(path) : api.put(path, { version }));
      edges.reload();
    });
  const shown = (edges.data?.items ?? []).filter((e) => e.status !== "decommissioned");
  return (
    <section>
      <h1>Edges</h1>
      <p className="hint">
        Latest published config:{" "}
        {latestVersion === undefined ? "none yet" : `version ${latestVersion}`}. Edges pull new
        versions within a second; enrol more with <code>gatehouse edge --control</code> and a join
        token. A held edge stays at its version while newer ones are published (staged rollout: hold
        all but one, publish, watch the one that took it, then release the others).
      </p>
      <ErrorBanner error={edges.error ?? action.error} />
      <table aria-label="Edges">
        <thead>
          <tr>
            <th>Name</th>
            <th>Health</th>
            <th>Config applied</th>
            <th>Last seen</th>
            <th>Uptime</th>
            <th>Software</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {shown.map((e) => {
            const applied = e.configVersion;
            const due = e.pinnedVersion ?? latestVersion;
            const behind = due !== undefined && applied !== null && applied < due;
            const hold = applied ?? latestVersion;
            const rejected =
              e.configStatus && e.configStatus.ok === false ? e.configStatus : undefined;
            return (
              <tr key={e.id}>
                <td>
                  {e.name}
                  <div className="hint">{e.id}</div>
                </td>
                <td>
                  <Badge value={health(e)} />
                </td>
                <td>
                  {applied === null ? "none" : `version ${applied}`}
                  {behind && <span className="hint"> (behind {due})</span>}
                  {e.pinnedVersion !== null && (
                    <div className="hint">held at version {e.pinnedVersion}</div>
                  )}
                  {rejected && (
                    <div className="field-error">
                      rejected version {rejected.version}:{" "}
                      {rejected.error?.message ?? "no reason given"}
                    </div>
                  )}
                </td>
                <td>{formatAgo(e.lastSeenAt)}</td>
                <td>{formatDuration(e.uptimeSeconds)}</td>
                <td>{e.softwareVersion ?? "—"}</td>
                <td className="actions">
                  {e.status === "active" ? (
                    <ConfirmButton
                      className="secondary"
                      question={`Drain "${e.name}"? It stops taking new work.`}
                      onConfirm={() => setStatus(e, "drain")}
                    >
                      Drain
                    </ConfirmButton>
                  ) : (
                    <button type="button" onClick={() => setStatus(e, "activate")}>
                      Activate
                    </button>
                  )}
                  {e.pinnedVersion !== null ? (
                    <ConfirmButton
                      className="secondary"
                      question={`Let "${e.name}" follow the latest version${latestVersion === undefined ? "" : ` (${latestVersion})`} again?`}
                      onConfirm={() => setPin(e, null)}
                    >
                      Release
                    </ConfirmButton>
                  ) : (
                    hold !== undefined && (
                      <ConfirmButton
                        className="secondary"
                        question={`Hold "${e.name}" at version ${hold}? It stays there while newer versions are published, until you release it.`}
                        onConfirm={() => setPin(e, hold)}
                      >
                        Hold at version {hold}
                      </ConfirmButton>
                    )
                  )}
                </td>
              </tr>
            );
          })}
          <EmptyRow cols={7} show={!!edges.data && shown.length === 0}>
            No edges enrolled.
          </EmptyRow>
        </tbody>
      </table>
    </section>
  );
}
