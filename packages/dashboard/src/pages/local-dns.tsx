// Local DNS: zones the edges answer themselves ("local DNS records"), written as zone-file text
// or imported whole; limited to some locations' clients if wanted; AXFR to the secondaries
// listed. A zone that does not parse is refused by control with the line named.

import { type FormEvent, useState } from "react";
import { api } from "../api.ts";
import type { LocalZone, Location, Page } from "../types.ts";
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

/** Records in a zone's text: its lines that are neither blank, comments nor directives. */
function recordCount(zone: string): number {
  return zone.split("\n").filter((l) => /^\s*[^\s;$]/.test(l) || /^\s+\S/.test(l)).length;
}

export function LocalDnsPage() {
  const zones = useResource("local-zones", (signal) =>
    api.get<Page<LocalZone>>("/local-zones", { limit: 1000 }, signal),
  );
  const locations = useResource("local-zone-locations", (signal) =>
    api.get<Page<Location>>("/locations", { limit: 1000 }, signal),
  );
  const editor = useEditor<LocalZone>(zones.reload);
  const action = useAction();
  const items = zones.data?.items ?? [];
  const places = locations.data?.items ?? [];
  const placeName = (id: string) => places.find((l) => l.id === id)?.name ?? id;
  return (
    <section>
      <PageHead title="Local DNS">
        <NewButton editor={editor} label="New zone" />
      </PageHead>
      <p className="hint">
        Names the edges answer themselves, authoritatively, never forwarded: A, AAAA, CNAME, MX,
        TXT, SRV, PTR, CAA and NS records in zone-file form, <code>*</code> wildcards included.
      </p>
      <EditorSlot
        editor={editor}
        render={(z, onDone) => <ZoneForm zone={z} locations={places} onDone={onDone} />}
      />
      <ErrorBanner error={zones.error ?? locations.error ?? action.error} />
      <table aria-label="Local zones">
        <thead>
          <tr>
            <th>Zone</th>
            <th>Lines</th>
            <th>Served to</th>
            <th>Transfers to</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {items.map((z) => (
            <tr key={z.id}>
              <td>
                <code>{z.name}</code>
              </td>
              <td className="num">{recordCount(z.zone)}</td>
              <td>
                {z.locations?.length ? z.locations.map(placeName).join(", ") : "every location"}
              </td>
              <td>{z.transferTo?.length ? z.transferTo.join(", ") : "—"}</td>
              <td className="actions">
                <button type="button" onClick={() => editor.open(z)}>
                  Edit
                </button>
                <ConfirmButton
                  question={`Delete the zone "${z.name}"?`}
                  onConfirm={() =>
                    action.run(async () => {
                      await api.del(`/local-zones/${encodeURIComponent(z.id)}`);
                      zones.reload();
                    })
                  }
                >
                  Delete
                </ConfirmButton>
              </td>
            </tr>
          ))}
          <EmptyRow cols={5} show={!!zones.data && items.length === 0}>
            No local zones yet.
          </EmptyRow>
        </tbody>
      </table>
    </section>
  );
}

function ZoneForm(props: {
  zone: LocalZone | undefined;
  locations: readonly Location[];
  onDone: (changed: boolean) => void;
}) {
  const z = props.zone;
  const [served, setServed] = useState<readonly string[]>(z?.locations ?? []);
  const [name, setName] = useState(z?.name ?? "");
  const [zone, setZone] = useState(z?.zone ?? "");
  const [transferTo, setTransferTo] = useState((z?.transferTo ?? []).join("\n"));
  const save = useAction();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const to = lines(transferTo);
    const body = {
      name: name.trim(),
      zone,
      locations: served.length ? served : null,
      transferTo: to.length ? to : null,
    };
    const ok = await save.run(async () => {
      if (z) await api.put(`/local-zones/${encodeURIComponent(z.id)}`, body);
      else await api.post("/local-zones", body);
    });
    if (ok) props.onDone(true);
  };
  return (
    <form className="card" onSubmit={submit} aria-label={z ? "Edit zone" : "New zone"}>
      <h2>{z ? `Edit “${z.name}”` : "New zone"}</h2>
      <TextField
        label="Zone (its apex, e.g. lan.example)"
        name="name"
        required
        value={name}
        onChange={setName}
      />
      <TextArea
        label="Records, or a whole zone file pasted in (names relative to the zone)"
        name="zone"
        rows={12}
        placeholder={"nas     A     192.168.1.10\nwww     CNAME nas\n*.dyn   A     192.168.1.99"}
        value={zone}
        onChange={setZone}
      />
      {props.locations.length > 0 && (
        <fieldset>
          <legend>Served to (none ticked: every location)</legend>
          {props.locations.map((l) => (
            <Checkbox
              key={l.id}
              label={l.name}
              name={`location-${l.id}`}
              checked={served.includes(l.id)}
              onChange={(on) =>
                setServed(on ? [...served, l.id] : served.filter((id) => id !== l.id))
              }
            />
          ))}
        </fieldset>
      )}
      <TextArea
        label="Secondaries allowed to transfer it (AXFR), one address or CIDR a line"
        name="transferTo"
        rows={2}
        value={transferTo}
        onChange={setTransferTo}
      />
      <FormError error={save.error} lineField="zone" />
      <FormButtons
        submit={z ? "Save" : "Create zone"}
        busy={save.busy}
        onCancel={() => props.onDone(false)}
      />
    </form>
  );
}
