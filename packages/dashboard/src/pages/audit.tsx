// Audit log: who changed what and when, newest first, filtered by resource, paged by cursor.

import { useState } from "react";
import { api } from "../api.ts";
import type { Page } from "../types.ts";
import {
  CursorPager,
  EmptyRow,
  ErrorBanner,
  formatTime,
  PageHead,
  SelectField,
  useCursorPages,
  useResource,
} from "../ui.tsx";

interface AuditEntry {
  id: string;
  at: string;
  actor: string;
  resource: string;
  resourceId: string | null;
  action: string;
  before: unknown;
  after: unknown;
}

const RESOURCES = [
  ["", "everything"],
  ["policy", "policies"],
  ["list", "lists"],
  ["location", "locations"],
  ["settings", "settings"],
  ["resolver", "DNS settings"],
  ["bundle", "publishes"],
  ["config", "imports"],
  ["user", "users"],
  ["device", "devices"],
  ["edge", "edges"],
  ["token", "tokens"],
] as const;

export function AuditPage() {
  const [resource, setResource] = useState("");
  const pages = useCursorPages(resource);
  const log = useResource(`audit|${resource}|${pages.cursor ?? ""}`, (signal) =>
    api.get<Page<AuditEntry>>("/audit", { limit: 50, resource, cursor: pages.cursor }, signal),
  );
  const items = log.data?.items ?? [];
  return (
    <section>
      <PageHead title="Audit log">
        <SelectField label="Show" value={resource} onChange={setResource} options={RESOURCES} />
      </PageHead>
      <ErrorBanner error={log.error} />
      <table aria-label="Audit log">
        <thead>
          <tr>
            <th>When</th>
            <th>Who</th>
            <th>What</th>
            <th>Change</th>
          </tr>
        </thead>
        <tbody>
          {items.map((e) => (
            <tr key={e.id}>
              <td className="nowrap">{formatTime(e.at)}</td>
              <td>{e.actor}</td>
              <td>
                {e.resource} {e.action}
                {e.resourceId && <div className="hint">{e.resourceId}</div>}
              </td>
              <td>
                {(e.before !== null || e.after !== null) && (
                  <details>
                    <summary>before / after</summary>
                    <pre className="json">
                      {JSON.stringify({ before: e.before, after: e.after }, null, 2)}
                    </pre>
                  </details>
                )}
              </td>
            </tr>
          ))}
          <EmptyRow cols={4} show={!!log.data && items.length === 0}>
            Nothing recorded.
          </EmptyRow>
        </tbody>
      </table>
      <CursorPager pages={pages} nextCursor={log.data?.nextCursor} />
    </section>
  );
}
