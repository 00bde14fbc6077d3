// Settings: whether clients outside every location are answered, the block page people see,
// and the proxy's CONNECT ports and logging. PUT /settings replaces the whole object, so what
// the form does not show (the PAC file's bypass list, a logo) is sent back as it was.

import type {
  BlockPageSettings,
  ProxySettings,
  UntrustedOriginCertAction,
} from "@gatehouse/contract";
import { type FormEvent, useState } from "react";
import { UNTRUSTED_ORIGIN_OPTIONS } from "../types.ts";
import { ErrorBanner, SelectField, TextField } from "../ui.tsx";
import { SaveBar, useReplace, WholeObjectPage } from "../whole-object.tsx";

interface Settings {
  allowUnknownClients: boolean;
  proxy?: ProxySettings;
  blockPage?: BlockPageSettings;
}

export function SettingsPage() {
  return (
    <WholeObjectPage<Settings>
      title="Settings"
      path="/settings"
      form={(current) => <SettingsForm current={current} />}
    />
  );
}

/** Text fields of the block page, in the order the form shows them. */
const BLOCK_PAGE_FIELDS = [
  ["title", "Block page title", "Blocked"],
  ["message", "Block page message", "This site is blocked by your organisation's policy."],
  ["color", "Header colour", "#b00020"],
  ["ipv4", "Block page IPv4 (DNS answers with blockMode ip)", "192.168.1.2"],
  ["ipv6", "Block page IPv6", "fd00::2"],
] as const;
type BlockField = (typeof BLOCK_PAGE_FIELDS)[number][0];

function SettingsForm({ current }: { current: Settings }) {
  const [open, setOpen] = useState(current.allowUnknownClients);
  const [page, setPage] = useState<Record<BlockField, string>>(() => ({
    title: current.blockPage?.title ?? "",
    message: current.blockPage?.message ?? "",
    color: current.blockPage?.color ?? "",
    ipv4: current.blockPage?.ipv4 ?? "",
    ipv6: current.blockPage?.ipv6 ?? "",
  }));
  const [ports, setPorts] = useState((current.proxy?.connectPorts ?? []).join(" "));
  const [logQuery, setLogQuery] = useState(current.proxy?.logQueryStrings ?? false);
  const [untrusted, setUntrusted] = useState<UntrustedOriginCertAction>(
    current.proxy?.untrustedOriginCert ?? "block",
  );
  const save = useReplace<Settings>("/settings");
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const blockPage: BlockPageSettings = { ...current.blockPage };
    for (const [k] of BLOCK_PAGE_FIELDS) {
      const v = page[k].trim();
      if (v) blockPage[k] = v;
      else delete blockPage[k];
    }
    const proxy: ProxySettings = { ...current.proxy, logQueryStrings: logQuery };
    if (untrusted === "block") delete proxy.untrustedOriginCert;
    else proxy.untrustedOriginCert = untrusted;
    const portList = ports.split(/[\s,]+/).filter((p) => p !== "");
    if (portList.length) proxy.connectPorts = portList.map(Number);
    else delete proxy.connectPorts;
    const body: Settings = { allowUnknownClients: open, proxy, blockPage };
    await save.put(body);
  };
  return (
    <form className="card" onSubmit={submit} aria-label="Settings">
      <h2>Clients</h2>
      <label className="inline">
        <input type="checkbox" checked={open} onChange={(e) => setOpen(e.target.checked)} />
        Answer clients outside every location (an open resolver and proxy if the edge is reachable
        from the Internet)
      </label>
      <h2>Block page</h2>
      <div className="row">
        {BLOCK_PAGE_FIELDS.map(([k, label, placeholder]) => (
          <TextField
            key={k}
            label={label}
            name={k}
            placeholder={placeholder}
            value={page[k]}
            onChange={(v) => setPage((p) => ({ ...p, [k]: v }))}
          />
        ))}
      </div>
      <h2>HTTP proxy</h2>
      <TextField
        label="Ports CONNECT may reach (empty: 443 only)"
        name="connectPorts"
        placeholder="443 8443"
        value={ports}
        onChange={setPorts}
      />
      <label className="inline">
        <input type="checkbox" checked={logQuery} onChange={(e) => setLogQuery(e.target.checked)} />
        Keep URLs' query strings in the query log (they may carry secrets)
      </label>
      <SelectField
        label="Inspected origins whose certificate does not verify (expired, self-signed, untrusted, wrong name)"
        name="untrustedOriginCert"
        value={untrusted}
        onChange={(v) => setUntrusted(v as UntrustedOriginCertAction)}
        options={UNTRUSTED_ORIGIN_OPTIONS}
      />
      <ErrorBanner error={save.error} />
      <SaveBar busy={save.busy} saved={save.saved} />
    </form>
  );
}
