// Edges: each enrolled edge's health (stale after three missed heartbeats), software, and the
// config version it applied against the one it should run (its pin, else the latest); hold an
// edge at a version while others take a new one (staged rollout), and let it go again.
// Refreshes every 5 s.

import { api } from "../api.ts";
import type { ConfigVersion, Edge, EdgeVersions, Page } from "../types.ts";
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
  if (e.status === "draining") return e.serving === "drained" ? "drained" : "draining";
  return "healthy";
}

/** "2 versions: 0.2.0 (3 edges), 0.1.0 (1 edge, refused)". */
function skewLine(v: EdgeVersions): string {
  const known = v.versions.filter((x) => x.version !== null);
  const parts = known.map(
    (x) =>
      `${x.version} (${x.edges} edge${x.edges === 1 ? "" : "s"}${x.tooOld ? ", refused: older than the minimum" : ""})`,
  );
  return `${known.length} version${known.length === 1 ? "" : "s"} in the fleet: ${parts.join(", ")}`;
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
  const versions = useResource(
    "edge-versions",
    (signal) => api.get<EdgeVersions>("/edges/versions", {}, signal),
    POLL_MS,
  );
  const newest = versions.data?.versions.find((x) => x.version !== null)?.version ?? null;
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
      {versions.data && (
        <p className="hint" data-testid="version-skew">
          Software: {skewLine(versions.data)}.{" "}
          {versions.data.minimumEdgeVersion
            ? `Control refuses edges older than ${versions.data.minimumEdgeVersion}.`
            : "No minimum edge version is set."}
        </p>
      )}
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
                <td>
                  {e.softwareVersion ?? "—"}
                  {e.tooOld ? (
                    <div className="field-error">too old: refused by control</div>
                  ) : (
                    e.softwareVersion !== null &&
                    newest !== null &&
                    e.softwareVersion !== newest && <div className="hint">behind {newest}</div>
                  )}
                  {e.replaces && <div className="hint">replaced {e.replaces}</div>}
                </td>
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
