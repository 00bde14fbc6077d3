// Clients: names for clients by IP address ("Kitchen iPad" for 192.168.1.23), shown in the query
// log and the Overview. Editors add, rename and forget names; everyone sees them. Beside them,
// the clients that asked in the last 24 hours with their query counts (from the query log). Each
// client links to its page (client-detail.tsx): activity, policies, settings, pause.

import { type FormEvent, useState } from "react";
import { api } from "../api.ts";
import { Link } from "../router.tsx";
import type { ClientName, Page, TopResult } from "../types.ts";
import {
  ConfirmButton,
  EmptyRow,
  ErrorBanner,
  FormButtons,
  formatTime,
  PageHead,
  type Resource,
  TextField,
  useAction,
  useResource,
} from "../ui.tsx";

const ACTIVE_LIMIT = 100;
const DAY_MS = 86_400_000;

/** The account's client names, by IP address (empty until loaded or when refused). */
export function useClientNames(): Resource<Page<ClientName>> & {
  nameOf: (ip: string) => string | undefined;
} {
  const r = useResource("client-names", (signal) =>
    api.get<Page<ClientName>>("/client-names", undefined, signal),
  );
  const byIp = new Map((r.data?.items ?? []).map((c) => [c.client, c.name] as const));
  return { ...r, nameOf: (ip) => byIp.get(ip) };
}

export function ClientsPage() {
  const names = useClientNames();
  const [adding, setAdding] = useState(false);
  const action = useAction();
  const items = names.data?.items ?? [];
  return (
    <section>
      <PageHead title="Clients">
        {!adding && (
          <button type="button" className="primary" onClick={() => setAdding(true)}>
            Name a client
          </button>
        )}
      </PageHead>
      {adding && (
        <NameForm
          onDone={(saved) => {
            setAdding(false);
            if (saved) names.reload();
          }}
        />
      )}
      <ErrorBanner error={names.error ?? action.error} />
      <ActiveClients nameOf={names.nameOf} />
      <h2>Names</h2>
      <table aria-label="Client names">
        <thead>
          <tr>
            <th>Name</th>
            <th>Address</th>
            <th>Named</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {items.map((c) => (
            <tr key={c.client}>
              <td>
                <Link to={`/clients/${encodeURIComponent(c.client)}`}>{c.name}</Link>
              </td>
              <td>{c.client}</td>
              <td>
                {formatTime(c.updatedAt)}
                <div className="hint">by {c.updatedBy}</div>
              </td>
              <td className="actions">
                <ConfirmButton
                  question={`Forget the name "${c.name}" of ${c.client}?`}
                  onConfirm={() =>
                    action.run(async () => {
                      await api.del(`/client-names/${encodeURIComponent(c.client)}`);
                      names.reload();
                    })
                  }
                >
                  Forget
                </ConfirmButton>
              </td>
            </tr>
          ))}
          <EmptyRow cols={4} show={!!names.data && items.length === 0}>
            No client has a name yet.
          </EmptyRow>
        </tbody>
      </table>
    </section>
  );
}

/** The clients that asked in the last 24 hours, busiest first, with their names and counts. */
function ActiveClients({ nameOf }: { nameOf: (ip: string) => string | undefined }) {
  const top = useResource("clients-active", (signal) =>
    api.get<TopResult>(
      "/analytics/top",
      { dimension: "client", limit: ACTIVE_LIMIT, from: Date.now() - DAY_MS },
      signal,
    ),
  );
  // Without a query-log store the route does not exist: nothing to show.
  if (top.error !== undefined) return null;
  const entries = top.data?.entries ?? [];
  return (
    <>
      <h2>Active in the last 24 hours</h2>
      <table aria-label="Active clients">
        <thead>
          <tr>
            <th>Client</th>
            <th>Address</th>
            <th className="num">Queries</th>
          </tr>
        </thead>
        <tbody>
          {entries.map((e) => (
            <tr key={e.key}>
              <td>
                <Link to={`/clients/${encodeURIComponent(e.key)}`}>{nameOf(e.key) ?? e.key}</Link>
              </td>
              <td>
                {e.key} <Link to={`/logs?client=${encodeURIComponent(e.key)}`}>queries</Link>
              </td>
              <td className="num">{e.count.toLocaleString()}</td>
            </tr>
          ))}
          <EmptyRow cols={3} show={!!top.data && entries.length === 0}>
            No queries in the last 24 hours.
          </EmptyRow>
        </tbody>
      </table>
    </>
  );
}

function NameForm(props: { onDone: (saved: boolean) => void }) {
  const [client, setClient] = useState("");
  const [name, setName] = useState("");
  const save = useAction();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const ok = await save.run(() =>
      api.post("/client-names", { client: client.trim(), name: name.trim() }),
    );
    if (ok) props.onDone(true);
  };
  return (
    <form className="card" onSubmit={submit} aria-label="Name a client">
      <div className="row">
        <TextField
          label="IP address"
          name="client"
          required
          placeholder="192.168.1.23"
          value={client}
          onChange={setClient}
        />
        <TextField
          label="Name"
          name="name"
          required
          maxLength={100}
          value={name}
          onChange={setName}
        />
      </div>
      <ErrorBanner error={save.error} />
      <FormButtons submit="Save" busy={save.busy} onCancel={() => props.onDone(false)} />
    </form>
  );
}
