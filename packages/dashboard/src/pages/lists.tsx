// Lists: the table and a create form (items inline, one a line); a list's own page pages
// through its items, adds and removes items (hosts-file and adblock lines work too), renames
// and deletes it (409 while policies use it, naming them).

import { type FormEvent, useState } from "react";
import { ApiError, api, withQuery } from "../api.ts";
import { Link, navigate } from "../router.tsx";
import {
  ITEM_FORMAT_LABELS,
  LIST_TYPE_LABELS,
  type List,
  type ListType,
  type ListUsers,
  type Page,
  type Subscription,
  type SubscriptionRefresh,
} from "../types.ts";
import {
  Badge,
  ConfirmButton,
  CursorPager,
  EmptyRow,
  ErrorBanner,
  FormButtons,
  formatAgo,
  formatDuration,
  formatTime,
  Notice,
  PageHead,
  SelectField,
  TextArea,
  TextField,
  useAction,
  useCursorPages,
  useResource,
} from "../ui.tsx";

const listPath = (id: string) => `/lists/${encodeURIComponent(id)}`;
const TYPE_OPTIONS = Object.entries(LIST_TYPE_LABELS).map(([v, label]) => [v, label] as const);

export function ListsPage() {
  const lists = useResource("lists", (signal) =>
    api.get<Page<List>>("/lists", { limit: 1000 }, signal),
  );
  const [creating, setCreating] = useState(false);
  const items = lists.data?.items ?? [];
  return (
    <section>
      <PageHead title="Lists">
        {!creating && (
          <button type="button" className="primary" onClick={() => setCreating(true)}>
            New list
          </button>
        )}
      </PageHead>
      <p className="hint">
        Policies use a list by name: <code>any(dns.domains[*] in $name)</code>. A domain list
        matches the names and their subdomains.
      </p>
      {creating && (
        <ListForm
          onDone={(created) => {
            setCreating(false);
            if (created) lists.reload();
          }}
        />
      )}
      <ErrorBanner error={lists.error} />
      <table aria-label="Lists">
        <thead>
          <tr>
            <th>Name</th>
            <th>Type</th>
            <th className="num">Items</th>
            <th>Description</th>
          </tr>
        </thead>
        <tbody>
          {items.map((l) => (
            <tr key={l.id}>
              <td>
                <Link to={listPath(l.id)}>{l.name}</Link>
              </td>
              <td>{l.type}</td>
              <td className="num">{l.itemCount.toLocaleString()}</td>
              <td>{l.description ?? ""}</td>
            </tr>
          ))}
          <EmptyRow cols={4} show={!!lists.data && items.length === 0}>
            No lists yet.
          </EmptyRow>
        </tbody>
      </table>
    </section>
  );
}

const FORMAT_OPTIONS = Object.entries(ITEM_FORMAT_LABELS).map(([v, l]) => [v, l] as const);
const REFRESH_OPTIONS = [
  ["3600", "every hour"],
  ["21600", "every 6 hours"],
  ["86400", "every day"],
  ["604800", "every week"],
] as const;

/**
 * New list: its items pasted or from a file in any line format control reads (sent as they are:
 * control parses them and names a bad line), or a URL to follow. A list whose items are refused
 * is deleted again, so nothing half-made stays.
 */
function ListForm(props: { onDone: (created: boolean) => void }) {
  const [name, setName] = useState("");
  const [type, setType] = useState<ListType>("domain");
  const [description, setDescription] = useState("");
  const [items, setItems] = useState("");
  const [format, setFormat] = useState("auto");
  const [file, setFile] = useState<File | undefined>(undefined);
  const [url, setUrl] = useState("");
  const [refresh, setRefresh] = useState("86400");
  const save = useAction();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    let createdId: string | undefined;
    const ok = await save.run(async () => {
      const created = await api.post<List>("/lists", {
        name: name.trim(),
        type,
        ...(description.trim() ? { description: description.trim() } : {}),
      });
      createdId = created.id;
      const text = file ? await file.text() : items;
      if (text.trim()) {
        try {
          await api.postText(withQuery(`${listPath(created.id)}/items`, { format }), text);
        } catch (err) {
          await api.del(listPath(created.id)).catch(() => {});
          throw err;
        }
      }
      if (url.trim()) {
        await api.put(`${listPath(created.id)}/subscription`, {
          url: url.trim(),
          format,
          refreshSeconds: Number(refresh),
        });
        // The first fetch now; a failure shows on the list's page (the list stays, empty).
        await api.post(`${listPath(created.id)}/subscription/refresh`).catch(() => {});
      }
    });
    if (ok) {
      props.onDone(true);
      if (url.trim() && createdId) navigate(listPath(createdId));
    }
  };
  return (
    <form className="card" onSubmit={submit} aria-label="New list">
      <h2>New list</h2>
      <div className="row">
        <TextField
          label={
            <>
              Name (used as <code>$name</code>)
            </>
          }
          name="name"
          required
          maxLength={128}
          pattern="[a-z0-9_\-]([a-z0-9_.\-]*[a-z0-9_\-])?"
          title="lower-case letters, digits, _ and - (dots inside)"
          value={name}
          onChange={setName}
        />
        <SelectField
          label="Type"
          name="type"
          value={type}
          onChange={(v) => setType(v as ListType)}
          options={TYPE_OPTIONS}
        />
        <SelectField
          label="Line format"
          name="format"
          value={format}
          onChange={setFormat}
          options={FORMAT_OPTIONS}
        />
      </div>
      <TextField
        label="Description"
        name="description"
        maxLength={2000}
        value={description}
        onChange={setDescription}
      />
      <TextArea
        label="Items, one a line — or paste a whole hosts file or adblock list"
        name="items"
        rows={6}
        value={items}
        disabled={file !== undefined}
        onChange={setItems}
      />
      <div className="row">
        <div className="field">
          <label htmlFor="list-file">Or upload a file</label>
          <input
            id="list-file"
            type="file"
            accept=".txt,.list,.hosts,text/plain"
            onChange={(e) => setFile(e.target.files?.[0])}
          />
          {file && (
            <span className="hint">
              {file.name}, {file.size.toLocaleString()} bytes (sent instead of the pasted items)
            </span>
          )}
        </div>
      </div>
      <div className="row">
        <TextField
          label="Or follow a URL (a subscription, fetched again on its own)"
          name="url"
          type="url"
          placeholder="https://example.com/hosts.txt"
          value={url}
          onChange={setUrl}
        />
        <SelectField
          label="Refresh"
          name="refresh"
          value={refresh}
          onChange={setRefresh}
          options={REFRESH_OPTIONS}
        />
      </div>
      <ErrorBanner error={save.error} />
      <FormButtons submit="Create list" busy={save.busy} onCancel={() => props.onDone(false)} />
    </form>
  );
}

export function ListDetailPage({ id }: { id: string }) {
  const list = useResource(`list:${id}`, (signal) =>
    api.get<List>(listPath(id), undefined, signal),
  );
  const [prefix, setPrefix] = useState("");
  const pages = useCursorPages(`${id}|${prefix}`);
  const items = useResource(`items:${id}|${prefix}|${pages.cursor ?? ""}`, (signal) =>
    api.get<Page<string | number>>(
      `${listPath(id)}/items`,
      { limit: 100, prefix, cursor: pages.cursor },
      signal,
    ),
  );
  const [text, setText] = useState("");
  const [result, setResult] = useState<string | undefined>(undefined);
  const change = useAction();
  const [edit, setEdit] = useState<{ name: string; description: string } | undefined>(undefined);
  const refresh = () => {
    list.reload();
    items.reload();
  };
  const bulk = (mode: "add" | "remove") =>
    change.run(async () => {
      const r = await api.postText<{
        changed: number;
        skipped: number;
        itemCount: number;
        invalid?: number;
      }>(`${listPath(id)}/items${mode === "remove" ? "/remove" : ""}`, text);
      const bad = r.invalid ? ` (${r.invalid} could not be read, listed below)` : "";
      setResult(
        `${mode === "add" ? "Added" : "Removed"} ${r.changed}; skipped ${r.skipped} line(s)${bad}; the list now holds ${r.itemCount}.`,
      );
      setText("");
      refresh();
    });
  const saveEdit = async (e: FormEvent) => {
    e.preventDefault();
    if (!edit || !list.data) return;
    const body: Record<string, unknown> = { description: edit.description.trim() || null };
    if (edit.name.trim() !== list.data.name) body["name"] = edit.name.trim();
    if (await change.run(() => api.patch(listPath(id), body).then(() => undefined))) {
      setEdit(undefined);
      refresh();
    }
  };
  const remove = () =>
    change.run(async () => {
      await api.del(listPath(id));
      navigate("/lists");
    });
  const l = list.data;
  return (
    <section>
      <p>
        <Link to="/lists">← Lists</Link>
      </p>
      <ErrorBanner error={list.error} />
      {l && (
        <>
          <PageHead
            title={
              <>
                <code>${l.name}</code>{" "}
                <span className="hint">
                  {l.type} list, {l.itemCount.toLocaleString()} items
                </span>
              </>
            }
          >
            <div className="buttons">
              <button
                type="button"
                onClick={() => setEdit({ name: l.name, description: l.description ?? "" })}
              >
                Rename / describe
              </button>
              <ConfirmButton
                question={`Delete the list "${l.name}" and its items?`}
                onConfirm={remove}
              >
                Delete list
              </ConfirmButton>
            </div>
          </PageHead>
          {l.description && <p>{l.description}</p>}
          {l.importStatus && <ImportStatusCard status={l.importStatus} />}
          {edit && (
            <form className="card" onSubmit={saveEdit} aria-label="Edit list">
              <div className="row">
                <TextField
                  label="Name"
                  required
                  value={edit.name}
                  onChange={(v) => setEdit({ ...edit, name: v })}
                />
                <TextField
                  label="Description"
                  value={edit.description}
                  onChange={(v) => setEdit({ ...edit, description: v })}
                />
              </div>
              <FormButtons submit="Save" busy={change.busy} onCancel={() => setEdit(undefined)} />
            </form>
          )}
        </>
      )}
      <ErrorBanner error={change.error} />
      {result && <Notice>{result}</Notice>}
      {l && <UsedBy id={id} />}
      {l && <SubscriptionCard id={id} subscribed={l.subscribed === true} onChanged={refresh} />}
      <div className="columns">
        <div>
          <h2>Items</h2>
          <TextField label="Starting with" type="search" value={prefix} onChange={setPrefix} />
          <ErrorBanner error={items.error} />
          <ul className="items" aria-label="Items">
            {(items.data?.items ?? []).map((v) => (
              <li key={String(v)}>
                <code>{String(v)}</code>
              </li>
            ))}
            {items.data?.items.length === 0 && <li className="empty">No items.</li>}
          </ul>
          <CursorPager pages={pages} nextCursor={items.data?.nextCursor} />
        </div>
        <div>
          <h2>Add or remove items</h2>
          <TextArea
            label={
              <>
                One a line (domain lists read hosts files, adblock rules such as{" "}
                <code>||ad*.example^</code>, <code>/regex/</code> and <code>@@</code> exceptions,
                dnsmasq lines and Pi-hole regexes; lines that cannot be read are skipped)
              </>
            }
            name="bulk"
            rows={10}
            value={text}
            onChange={setText}
          />
          <div className="buttons">
            <button
              type="button"
              className="primary"
              disabled={change.busy || !text.trim()}
              onClick={() => bulk("add")}
            >
              Add
            </button>
            <button
              type="button"
              disabled={change.busy || !text.trim()}
              onClick={() => bulk("remove")}
            >
              Remove
            </button>
          </div>
        </div>
      </div>
    </section>
  );
}

/** How the last upload of a domain list went: lines skipped, and the first ones rejected. */
function ImportStatusCard({ status }: { status: NonNullable<List["importStatus"]> }) {
  if (status.invalid === 0 && status.unsupported === 0) return null;
  return (
    <section className="card" aria-label="Last upload">
      <p>
        Last upload ({new Date(status.at).toLocaleString()}): {status.invalid} line(s) could not be
        read, {status.unsupported} rule(s) mean nothing to DNS (skipped).
      </p>
      {status.rejected.length > 0 && (
        <table>
          <thead>
            <tr>
              <th>Line</th>
              <th>Text</th>
              <th>Why</th>
            </tr>
          </thead>
          <tbody>
            {status.rejected.map((r) => (
              <tr key={r.line}>
                <td className="num">{r.line}</td>
                <td>
                  <code>{r.text}</code>
                </td>
                <td>{r.reason}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** The policies that use the list, or that none does. */
function UsedBy({ id }: { id: string }) {
  const users = useResource(`list-users:${id}`, (signal) =>
    api.get<ListUsers>(`${listPath(id)}/policies`, undefined, signal),
  );
  const ps = users.data?.policies;
  return (
    <section aria-label="Used by" className="used-by">
      <ErrorBanner error={users.error} />
      {ps && ps.length === 0 && (
        <p className="hint">No policy uses this list: it changes nothing until one does.</p>
      )}
      {ps && ps.length > 0 && (
        <p>
          Used by{" "}
          {ps.map((p, i) => (
            <span key={p.id}>
              {i > 0 && ", "}
              <Link to="/policies">{p.name}</Link> ({p.type}
              {p.enabled ? "" : ", disabled"})
            </span>
          ))}
          .
        </p>
      )}
    </section>
  );
}

function refreshText(r: SubscriptionRefresh): string {
  if (r.status === "failed") return `failed: ${r.error ?? "unknown error"}`;
  if (r.status === "not-modified") return "not modified since the last fetch";
  const parts = [`${(r.itemCount ?? 0).toLocaleString()} entries`];
  if (r.skipped) parts.push(`${r.skipped.toLocaleString()} lines skipped`);
  if (r.invalid) parts.push(`${r.invalid.toLocaleString()} invalid`);
  return `updated: ${parts.join(", ")}`;
}

/** The URL the list follows (or a form to follow one): status, last fetch, errors, update now. */
function SubscriptionCard(props: { id: string; subscribed: boolean; onChanged: () => void }) {
  const path = `${listPath(props.id)}/subscription`;
  // Asked only when there is one (a list without answers 404 there).
  const sub = useResource(`sub:${props.id}|${props.subscribed}`, (signal) =>
    props.subscribed ? api.get<Subscription>(path, undefined, signal) : Promise.resolve(undefined),
  );
  const act = useAction();
  const [url, setUrl] = useState("");
  const [format, setFormat] = useState("auto");
  const [refresh, setRefresh] = useState("86400");
  const none =
    (!props.subscribed && !sub.loading) ||
    (sub.error instanceof ApiError && sub.error.status === 404);
  const done = () => {
    sub.reload();
    props.onChanged();
  };
  const follow = (e: FormEvent) => {
    e.preventDefault();
    void act.run(async () => {
      await api.put(path, { url: url.trim(), format, refreshSeconds: Number(refresh) });
      await api.post(`${path}/refresh`).catch(() => {});
      done();
    });
  };
  const s = sub.data;
  return (
    <section className="card" aria-label="Subscription">
      <h2>Subscription</h2>
      {!none && <ErrorBanner error={sub.error} />}
      {none && (
        <form onSubmit={follow} aria-label="Follow a URL">
          <p className="hint">This list follows no URL. Its items are what you add here.</p>
          <div className="row">
            <TextField
              label="Follow a URL"
              type="url"
              required
              placeholder="https://example.com/hosts.txt"
              value={url}
              onChange={setUrl}
            />
            <SelectField
              label="Line format"
              value={format}
              onChange={setFormat}
              options={FORMAT_OPTIONS}
            />
            <SelectField
              label="Refresh"
              value={refresh}
              onChange={setRefresh}
              options={REFRESH_OPTIONS}
            />
          </div>
          <div className="buttons">
            <button type="submit" className="primary" disabled={act.busy}>
              Follow
            </button>
          </div>
        </form>
      )}
      {s && (
        <>
          <dl className="fields">
            <div>
              <dt>URL</dt>
              <dd>
                <code>{s.url}</code>
              </dd>
            </div>
            <div>
              <dt>Format</dt>
              <dd>{ITEM_FORMAT_LABELS[s.format] ?? s.format}</dd>
            </div>
            <div>
              <dt>Refresh</dt>
              <dd>every {formatDuration(s.refreshSeconds)}</dd>
            </div>
            <div>
              <dt>Last fetch</dt>
              <dd>
                {s.lastFetchAt
                  ? `${formatTime(s.lastFetchAt)} (${formatAgo(s.lastFetchAt)})`
                  : "never"}
              </dd>
            </div>
            <div>
              <dt>Last success</dt>
              <dd>{s.lastSuccessAt ? formatTime(s.lastSuccessAt) : "never"}</dd>
            </div>
            <div>
              <dt>Next fetch</dt>
              <dd>{formatTime(s.nextFetchAt)}</dd>
            </div>
            <div>
              <dt>Status</dt>
              <dd>
                {s.lastStatus ? (
                  <Badge
                    value={s.lastStatus.status === "failed" ? "refused" : "active"}
                    text={refreshText(s.lastStatus)}
                  />
                ) : (
                  "not fetched yet"
                )}
              </dd>
            </div>
          </dl>
          {s.lastError && (
            <div className="error" role="alert">
              Last error: {s.lastError}
            </div>
          )}
          <div className="buttons">
            <button
              type="button"
              className="primary"
              disabled={act.busy}
              onClick={() =>
                act.run(async () => {
                  // A failed fetch answers 502 and is recorded: the card shows it either way.
                  await api.post(`${path}/refresh`).catch((err: unknown) => {
                    if (!(err instanceof ApiError) || err.status !== 502) throw err;
                  });
                  done();
                })
              }
            >
              {act.busy ? "Updating…" : "Update now"}
            </button>
            <ConfirmButton
              question="Stop following this URL? The items stay in the list."
              onConfirm={() =>
                act.run(async () => {
                  await api.del(path);
                  done();
                })
              }
            >
              Stop following
            </ConfirmButton>
          </div>
        </>
      )}
      <ErrorBanner error={act.error} />
    </section>
  );
}
