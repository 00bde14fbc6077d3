// Locations: where clients come from (source networks), with their DoH path and DoT label.

import { type FormEvent, useState } from "react";
import { api } from "../api.ts";
import { Link } from "../router.tsx";
import type { Location, Page } from "../types.ts";
import {
  Checkbox,
  ConfirmButton,
  EditorSlot,
  EmptyRow,
  ErrorBanner,
  FormButtons,
  FormError,
  lines,
  NewButton,
  PageHead,
  TextArea,
  TextField,
  useAction,
  useEditor,
  useResource,
} from "../ui.tsx";

export function LocationsPage() {
  const locations = useResource("locations", (signal) =>
    api.get<Page<Location>>("/locations", { limit: 1000 }, signal),
  );
  const editor = useEditor<Location>(locations.reload);
  const action = useAction();
  const change = (l: Location, fn: (path: string) => Promise<unknown>) =>
    action.run(async () => {
      await fn(`/locations/${encodeURIComponent(l.id)}`);
      locations.reload();
    });
  const items = locations.data?.items ?? [];
  return (
    <section>
      <PageHead title="Locations">
        <NewButton editor={editor} label="New location" />
      </PageHead>
      <p className="hint">
        A query belongs to the location whose networks contain the client's address (Do53, the
        proxy), or whose DoH path token or DoT label it used. HTTPS of a location that inspects is
        decrypted so HTTP policies see paths; its devices must trust the organisation's{" "}
        <a href="/api/v1/tls/ca.pem" download>
          root CA
        </a>{" "}
        (<a href="/api/v1/tls/ca.der">DER</a> for Windows and Android).
      </p>
      <EditorSlot
        editor={editor}
        render={(l, onDone) => <LocationForm location={l} onDone={onDone} />}
      />
      <ErrorBanner error={locations.error ?? action.error} />
      <table aria-label="Locations">
        <thead>
          <tr>
            <th>Name</th>
            <th>Networks</th>
            <th>DoH path</th>
            <th>DoT label</th>
            <th>Proxy sign-in</th>
            <th>DNSSEC</th>
            <th>HTTPS</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {items.map((l) => (
            <tr key={l.id}>
              <td>{l.name}</td>
              <td>
                {l.networks.length
                  ? l.networks.map((n) => (
                      <div key={n}>
                        <code>{n}</code>
                      </div>
                    ))
                  : "—"}
              </td>
              <td>
                <code>/dns-query/{l.dohToken}</code>
                <div>
                  <Link to={`/connect?location=${encodeURIComponent(l.id)}`}>Connect a device</Link>
                </div>
              </td>
              <td>{l.dotLabel ?? "—"}</td>
              <td>{l.requireProxyAuth ? "required" : "no"}</td>
              <td>{l.dnssec?.validate === false ? "not validated" : "validated"}</td>
              <td>{l.tlsInspection ? "inspected" : "no"}</td>
              <td className="actions">
                <button type="button" onClick={() => editor.open(l)}>
                  Edit
                </button>
                <ConfirmButton
                  className="secondary"
                  question={`Replace the DoH token of "${l.name}"? Clients using the old path stop working.`}
                  onConfirm={() => change(l, (path) => api.post(`${path}/rotate-doh-token`))}
                >
                  New DoH token
                </ConfirmButton>
                <ConfirmButton
                  question={`Delete the location "${l.name}"?`}
                  onConfirm={() => change(l, api.del)}
                >
                  Delete
                </ConfirmButton>
              </td>
            </tr>
          ))}
          <EmptyRow cols={7} show={!!locations.data && items.length === 0}>
            No locations yet.
          </EmptyRow>
        </tbody>
      </table>
    </section>
  );
}

function LocationForm(props: {
  location: Location | undefined;
  onDone: (changed: boolean) => void;
}) {
  const l = props.location;
  const [name, setName] = useState(l?.name ?? "");
  const [networks, setNetworks] = useState((l?.networks ?? []).join("\n"));
  const [dotLabel, setDotLabel] = useState(l?.dotLabel ?? "");
  const [requireProxyAuth, setRequireProxyAuth] = useState(l?.requireProxyAuth ?? false);
  const [validate, setValidate] = useState(l?.dnssec?.validate ?? true);
  const [tlsInspection, setTlsInspection] = useState(l?.tlsInspection ?? false);
  const save = useAction();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const body: Record<string, unknown> = {
      name: name.trim(),
      networks: lines(networks),
      requireProxyAuth,
      dnssec: { validate },
      tlsInspection,
    };
    if (dotLabel.trim()) body["dotLabel"] = dotLabel.trim();
    else if (l?.dotLabel) body["dotLabel"] = null;
    const ok = await save.run(async () => {
      if (l) await api.patch(`/locations/${encodeURIComponent(l.id)}`, body);
      else await api.post("/locations", body);
    });
    if (ok) props.onDone(true);
  };
  return (
    <form className="card" onSubmit={submit} aria-label={l ? "Edit location" : "New location"}>
      <h2>{l ? `Edit “${l.name}”` : "New location"}</h2>
      <div className="row">
        <TextField
          label="Name"
          name="name"
          required
          maxLength={200}
          value={name}
          onChange={setName}
        />
        <TextField
          label="DoT label (optional)"
          name="dotLabel"
          value={dotLabel}
          onChange={setDotLabel}
        />
        <label className="inline">
          <input
            type="checkbox"
            checked={requireProxyAuth}
            onChange={(e) => setRequireProxyAuth(e.target.checked)}
          />
          Require proxy sign-in
        </label>
        <Checkbox
          label="Validate DNSSEC"
          name="dnssecValidate"
          checked={validate}
          onChange={setValidate}
        />
        <Checkbox
          label="Inspect HTTPS (devices must trust the root CA)"
          name="tlsInspection"
          checked={tlsInspection}
          onChange={setTlsInspection}
        />
      </div>
      <TextArea
        label="Networks (CIDR or address, one a line)"
        name="networks"
        rows={4}
        placeholder={"192.168.1.0/24\n2001:db8::/32"}
        value={networks}
        onChange={setNetworks}
      />
      <FormError error={save.error} lineField="networks" />
      <FormButtons
        submit={l ? "Save" : "Create location"}
        busy={save.busy}
        onCancel={() => props.onDone(false)}
      />
    </form>
  );
}
