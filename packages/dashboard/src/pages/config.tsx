// Publish: check the configuration, publish it as a new bundle version, see the published
// versions with what changed between each and the one before, and roll back to one of them
// (admins; its content is published again as a new version). The preview names what the next
// publish changes against the live version, runs the policy tests and replays the last 24 hours
// of traffic through the draft.

import { useState } from "react";
import { api } from "../api.ts";
import type {
  BundleDiff,
  ConfigVersion,
  Page,
  PublishPreview,
  PublishResult,
  RollbackResult,
} from "../types.ts";
import {
  ConfirmButton,
  CursorPager,
  EmptyRow,
  ErrorBanner,
  formatTime,
  Notice,
  useAction,
  useCursorPages,
  useResource,
} from "../ui.tsx";

interface CheckResult {
  ok: boolean;
  problems: { path: string; message: string }[];
}

export function ConfigPage() {
  const pages = useCursorPages("versions");
  const versions = useResource(`versions|${pages.cursor ?? ""}`, (signal) =>
    api.get<Page<ConfigVersion>>("/config/versions", { limit: 20, cursor: pages.cursor }, signal),
  );
  const [checked, setChecked] = useState<CheckResult | undefined>(undefined);
  const [published, setPublished] = useState<PublishResult | undefined>(undefined);
  const [diff, setDiff] = useState<BundleDiff | undefined>(undefined);
  const [rolledBack, setRolledBack] = useState<RollbackResult | undefined>(undefined);
  const [preview, setPreview] = useState<PublishPreview | undefined>(undefined);
  const action = useAction();
  // The newest version is already current: no rollback offered for it.
  const newest = pages.cursor === undefined ? versions.data?.items[0]?.version : undefined;
  const check = () =>
    action.run(async () => {
      setChecked(await api.get<CheckResult>("/config/check"));
    });
  const showPreview = () =>
    action.run(async () => {
      setPreview(await api.get<PublishPreview>("/config/preview"));
    });
  const publish = (force: boolean) =>
    action.run(async () => {
      setRolledBack(undefined);
      setPublished(await api.post<PublishResult>("/config/publish", force ? { force: true } : {}));
      versions.reload();
    });
  const rollback = (version: number) =>
    action.run(async () => {
      setPublished(undefined);
      setRolledBack(await api.post<RollbackResult>("/config/rollback", { version }));
      versions.reload();
    });
  const showDiff = (v: number) =>
    action.run(async () => {
      setDiff(await api.get<BundleDiff>(`/config/versions/${v - 1}/diff/${v}`));
    });
  return (
    <section>
      <h1>Publish</h1>
      <p className="hint">
        Changes made here are published automatically a moment later; publish now to send them at
        once. Edges apply a new version within a second.
      </p>
      <div className="buttons">
        <button type="button" onClick={check} disabled={action.busy}>
          Check configuration
        </button>
        <button type="button" onClick={showPreview} disabled={action.busy}>
          Preview the next publish
        </button>
        <button
          type="button"
          className="primary"
          onClick={() => publish(false)}
          disabled={action.busy}
        >
          Publish now
        </button>
        <button type="button" onClick={() => publish(true)} disabled={action.busy}>
          Publish even if unchanged
        </button>
      </div>
      <ErrorBanner error={action.error} />
      {preview && <PreviewView preview={preview} onClose={() => setPreview(undefined)} />}
      {checked &&
        (checked.ok ? (
          <Notice>The configuration compiles.</Notice>
        ) : (
          <Problems lead="The configuration does not compile:" problems={checked.problems} />
        ))}
      {published && (
        <Notice>
          {published.changed
            ? `Published version ${published.version}.`
            : `Nothing changed since version ${published.version}; nothing new was published.`}
        </Notice>
      )}
      {rolledBack && (
        <Notice>
          {rolledBack.changed
            ? `Rolled back to version ${rolledBack.rolledBackTo}: its content is published as version ${rolledBack.version}. Policies, lists and settings are unchanged; the next publish ships them again.`
            : `Version ${rolledBack.version} already has the content of version ${rolledBack.rolledBackTo}; nothing new was published.`}
        </Notice>
      )}
      <h2>Versions</h2>
      <ErrorBanner error={versions.error} />
      <table aria-label="Versions">
        <thead>
          <tr>
            <th className="num">Version</th>
            <th>Published</th>
            <th>By</th>
            <th>Contents</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {(versions.data?.items ?? []).map((v) => (
            <tr key={v.version}>
              <td className="num">{v.version}</td>
              <td>{formatTime(v.createdAt)}</td>
              <td>{v.createdBy ?? "—"}</td>
              <td>
                {v.summary
                  ? `${v.summary.policies} policies, ${v.summary.lists} lists (${v.summary.listItems} items), ${v.summary.locations} locations`
                  : "—"}
              </td>
              <td className="actions">
                {v.version > 1 && (
                  <button type="button" onClick={() => showDiff(v.version)}>
                    Changes
                  </button>
                )}
                {v.version !== newest && (
                  <ConfirmButton
                    className="secondary"
                    disabled={action.busy}
                    question={`Roll back to version ${v.version}? Its content is published as a new version and every edge applies it. Policies, lists and settings stay as they are, so the next publish ships them again.`}
                    onConfirm={() => rollback(v.version)}
                  >
                    Roll back to this version
                  </ConfirmButton>
                )}
              </td>
            </tr>
          ))}
          <EmptyRow cols={5} show={versions.data?.items.length === 0}>
            Nothing published yet.
          </EmptyRow>
        </tbody>
      </table>
      <CursorPager pages={pages} nextCursor={versions.data?.nextCursor} />
      {diff && <DiffView diff={diff} onClose={() => setDiff(undefined)} />}
    </section>
  );
}

function DiffView({ diff, onClose }: { diff: BundleDiff; onClose: () => void }) {
  const sections = [
    ["Policies", diff.policies],
    ["Lists", diff.lists],
    ["Locations", diff.locations],
  ] as const;
  return (
    <section className="card" aria-label="Changes">
      <h2>
        Changes from version {diff.from} to {diff.to}
      </h2>
      <ul>
        {sections.map(([label, s]) => (
          <li key={label}>
            {label}: {s.added.length} added, {s.changed.length} changed, {s.removed.length} removed
          </li>
        ))}
        {diff.lists.items.map((i) => (
          <li key={i.id}>
            Items of <code>${i.name}</code>: +{i.added} −{i.removed}
          </li>
        ))}
      </ul>
      <button type="button" onClick={onClose}>
        Close
      </button>
    </section>
  );
}

function Names({ label, s }: { label: string; s: PublishPreview["policies"] }) {
  if (s.added.length + s.removed.length + s.changed.length === 0) return null;
  const part = (sign: string, names: string[]) =>
    names.length > 0 ? `${sign} ${names.map((n) => JSON.stringify(n)).join(", ")}` : "";
  return (
    <li>
      {label}:{" "}
      {[part("added", s.added), part("changed", s.changed), part("removed", s.removed)]
        .filter((x) => x !== "")
        .join("; ")}
    </li>
  );
}

function PreviewView({ preview, onClose }: { preview: PublishPreview; onClose: () => void }) {
  const sim = preview.simulation;
  const failed = preview.tests.results.filter((r) => !r.passed);
  const top = (entries: { key: string; count: number }[]) =>
    entries.map((e) => `${e.key} (${e.count})`).join(", ");
  return (
    <section className="card" aria-label="Preview">
      <h2>
        Next publish
        {preview.liveVersion !== null ? ` against version ${preview.liveVersion}` : ""}
      </h2>
      {!preview.ok && (
        <Problems
          lead="The configuration does not compile; a publish would be refused:"
          problems={preview.problems}
        />
      )}
      <ul>
        <Names label="Policies" s={preview.policies} />
        <Names label="Lists" s={preview.lists} />
        {preview.lists.items.map((i) => (
          <li key={i.name}>
            Items of <code>${i.name}</code>: +{i.added} −{i.removed}
            {i.addedSample.length > 0 &&
              ` (added: ${i.addedSample.join(", ")}${i.added > i.addedSample.length ? ", …" : ""})`}
            {i.removedSample.length > 0 &&
              ` (removed: ${i.removedSample.join(", ")}${i.removed > i.removedSample.length ? ", …" : ""})`}
          </li>
        ))}
        <Names label="Locations" s={preview.locations} />
        <Names label="Users" s={preview.users} />
        <Names label="Devices" s={preview.devices} />
        {preview.resolverChanged && <li>Resolver settings changed</li>}
        {preview.settingsChanged && <li>Settings changed</li>}
      </ul>
      <h3>Policy tests</h3>
      {preview.tests.results.length === 0 ? (
        <p className="hint">No policy tests (PUT /api/v1/config/tests, or tests: in the YAML).</p>
      ) : failed.length === 0 ? (
        <Notice>All {preview.tests.passed} policy tests pass.</Notice>
      ) : (
        <div className="error" role="alert">
          {failed.length} policy test(s) fail; a publish would be refused:
          <ul>
            {failed.map((r) => (
              <li key={r.path}>
                {r.name}: {r.message}
              </li>
            ))}
          </ul>
        </div>
      )}
      <h3>Last 24 hours of traffic, replayed</h3>
      {sim === null ? (
        <p className="hint">{preview.simulationNote ?? "No simulation."}</p>
      ) : (
        <ul>
          <li>
            Would newly block {sim.newlyBlocked.count} of {sim.replayed} queries and requests
            {sim.newlyBlocked.count > 0 &&
              `: ${top(sim.newlyBlocked.byDomain)}; clients ${top(sim.newlyBlocked.byClient)}`}
          </li>
          <li>
            Would unblock {sim.newlyAllowed.count}
            {sim.newlyAllowed.count > 0 &&
              `: ${top(sim.newlyAllowed.byDomain)}; clients ${top(sim.newlyAllowed.byClient)}`}
          </li>
        </ul>
      )}
      <button type="button" onClick={onClose}>
        Close
      </button>
    </section>
  );
}

function Problems({
  lead,
  problems,
}: {
  lead: string;
  problems: readonly { path: string; message: string }[];
}) {
  return (
    <div className="error" role="alert">
      {lead}
      <ul>
        {problems.map((p) => (
          <li key={`${p.path}:${p.message}`}>
            <code>{p.path}</code>: {p.message}
          </li>
        ))}
      </ul>
    </div>
  );
}
