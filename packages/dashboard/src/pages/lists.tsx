// Lists: the table and a create form (items inline, one a line); a list's own page pages
// through its items, adds and removes items (hosts-file and adblock lines work too), renames
// and deletes it (409 while policies use it, naming them).

import { type FormEvent, useState } from "react";
import { api } from "../api.ts";
import { Link, navigate } from "../router.tsx";
import { LIST_TYPE_LABELS, type List, type ListType, type Page } from "../types.ts";
import {
  ConfirmButton,
  CursorPager,
  EmptyRow,
  ErrorBanner,
  FormButtons,
  lines,
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

function ListForm(props: { onDone: (created: boolean) => void }) {
  const [name, setName] = useState("");
  const [type, setType] = useState<ListType>("domain");
  const [description, setDescription] = useState("");
  const [items, setItems] = useState("");
  const save = useAction();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const values = lines(items);
    const ok = await save.run(async () => {
      await api.post("/lists", {
        name: name.trim(),
        type,
        ...(description.trim() ? { description: description.trim() } : {}),
        items: type === "int" ? values.map(Number) : values,
      });
    });
    if (ok) props.onDone(true);
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
      </div>
      <TextField
        label="Description"
        name="description"
        maxLength={2000}
        value={description}
        onChange={setDescription}
      />
      <TextArea
        label="Items, one a line (up to 10,000 here; add more on the list's page)"
        name="items"
        rows={6}
        value={items}
        onChange={setItems}
      />
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
