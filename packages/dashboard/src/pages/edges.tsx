// Edges: each enrolled edge's health (stale after three missed heartbeats), software, and the
// config version it applied against the latest published one. Refreshes every 5 s.

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
  const shown = (edges.data?.items ?? []).filter((e) => e.status !== "decommissioned");
  return (
    <section>
      <h1>Edges</h1>
      <p className="hint">
        Latest published config:{" "}
        {latestVersion === undefined ? "none yet" : `version ${latestVersion}`}. Edges pull new
        versions within a second; enrol more with <code>gatehouse edge --control</code> and a join
        token.
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
            const behind =
              latestVersion !== undefined && applied !== null && applied < latestVersion;
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
                  {behind && <span className="hint"> (behind {latestVersion})</span>}
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
