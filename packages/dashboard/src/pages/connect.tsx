// Connect a device: for one location, the plain DNS addresses, the DoH URL, the DoT host name,
// the PAC URL and the proxy — each with a copy button and a QR code — the certificate to trust,
// Apple configuration profiles, and setup steps per platform (GET /locations/{id}/connect; the
// CLI's `gatehouse connect` prints the same). The DoH URL is the location's credential:
// replacing it revokes the old one. A device may also get its own DoH URL (a per-device token,
// shown once, revocable): its queries are logged under its name.

import type { ConnectInfoView, DeviceView, DeviceWithCredential } from "@gatehouse/contract";
import QRCode from "qrcode";
import { type FormEvent, useEffect, useState } from "react";
import { API_BASE, api, getToken } from "../api.ts";
import { navigate, useLocation } from "../router.tsx";
import type { Location, Page } from "../types.ts";
import {
  ConfirmButton,
  ErrorBanner,
  Notice,
  PageHead,
  SelectField,
  TextField,
  useAction,
  useResource,
} from "../ui.tsx";

/** A QR code of `text` as an image (drawn in the page: nothing leaves it). */
function QrImage({ text, label }: { text: string; label: string }) {
  const [src, setSrc] = useState<string | undefined>(undefined);
  useEffect(() => {
    let live = true;
    QRCode.toDataURL(text, { margin: 1, width: 144, errorCorrectionLevel: "M" }).then(
      (url) => live && setSrc(url),
      () => live && setSrc(undefined),
    );
    return () => {
      live = false;
    };
  }, [text]);
  return src ? (
    <img className="qr" src={src} alt={`QR code: ${label}`} width={144} height={144} />
  ) : null;
}

/** Copy to the clipboard (the Clipboard API on HTTPS and localhost, a selection elsewhere). */
async function copyText(text: string): Promise<void> {
  if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.append(area);
  area.select();
  try {
    if (!document.execCommand("copy")) throw new Error("the browser refused to copy");
  } finally {
    area.remove();
  }
}

function CopyButton({ text, label }: { text: string; label: string }) {
  const [state, setState] = useState<"idle" | "copied" | "failed">("idle");
  return (
    <button
      type="button"
      aria-label={`Copy ${label}`}
      onClick={() =>
        copyText(text).then(
          () => setState("copied"),
          () => setState("failed"),
        )
      }
    >
      {state === "copied" ? "Copied" : state === "failed" ? "Copy failed: select it" : "Copy"}
    </button>
  );
}

/** One value a device is given: the text, a copy button, a QR code. */
function Endpoint({ label, value, note }: { label: string; value: string; note?: string }) {
  return (
    <section className="endpoint" aria-label={label}>
      <div className="endpoint-text">
        <div className="endpoint-label">{label}</div>
        <code data-testid={label}>{value}</code>
        {note && <div className="hint">{note}</div>}
        <CopyButton text={value} label={label} />
      </div>
      <QrImage text={value} label={label} />
    </section>
  );
}

/** Save `body` as a file (a download of a blob made in the page). */
function saveFile(name: string, type: string, body: string): void {
  const url = URL.createObjectURL(new Blob([body], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** GET a profile with the signed-in token or session (a plain link could not send a token). */
async function fetchProfile(path: string): Promise<{ name: string; body: string }> {
  const token = getToken();
  const res = await fetch(path, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
    credentials: token ? "omit" : "same-origin",
  });
  if (!res.ok) throw new Error(`the profile could not be made (${res.status})`);
  const cd = res.headers.get("content-disposition") ?? "";
  const name = /filename="([^"]+)"/.exec(cd)?.[1] ?? "gatehouse.mobileconfig";
  return { name, body: await res.text() };
}

/** The DoH URL with `token` in place of the location's. */
function dohUrlWith(locationUrl: string, token: string): string {
  return locationUrl.replace(/\/dns-query(?:\/[^/?#]*)?$/, `/dns-query/${token}`);
}

/**
 * Devices of this location with their own DoH URL: add one (the URL is shown once, with a QR
 * code) or revoke one. Each token is the device's credential; its queries carry its name.
 */
function DeviceUrls({ locationId, dohUrl }: { locationId: string; dohUrl: string }) {
  const devices = useResource("connect-devices", (signal) =>
    api.get<Page<DeviceView>>("/identities/devices", { limit: 1000 }, signal),
  );
  const action = useAction();
  const [name, setName] = useState("");
  const [issued, setIssued] = useState<{ name: string; url: string } | undefined>(undefined);
  const mine = (devices.data?.items ?? []).filter(
    (d) => d.locationId === locationId && d.dohTokenIssuedAt !== null,
  );
  const add = (e: FormEvent) => {
    e.preventDefault();
    void action.run(async () => {
      const d = await api.post<DeviceWithCredential>("/identities/devices", {
        name: name.trim(),
        locationId,
        dohToken: true,
      });
      if (d.dohToken === undefined) throw new Error("control sent no DoH token");
      setIssued({ name: d.name, url: dohUrlWith(dohUrl, d.dohToken) });
      setName("");
      devices.reload();
    });
  };
  const revoke = (id: string) =>
    action.run(async () => {
      await api.del(`/identities/devices/${encodeURIComponent(id)}/doh-token`);
      setIssued(undefined);
      devices.reload();
    });
  return (
    <>
      <h2>A DoH URL per device</h2>
      <p className="hint">
        A device with its own DoH URL is answered with this location's policies from anywhere, and
        its queries show its name in the query log. The URL is shown once; revoke it when the device
        is lost or given away.
      </p>
      <ErrorBanner error={devices.error ?? action.error} />
      {issued && (
        <>
          <Notice>
            DoH URL for {issued.name} (shown this once: set it up now, or copy it somewhere safe).
          </Notice>
          <div className="endpoints">
            <Endpoint label={`DoH URL for ${issued.name}`} value={issued.url} />
          </div>
        </>
      )}
      <form className="inline-form" aria-label="New device DoH URL" onSubmit={add}>
        <TextField
          label="Device name"
          value={name}
          onChange={setName}
          required
          maxLength={200}
          pattern="[^:\s]+"
          title="No spaces or colons, e.g. kims-phone"
          placeholder="kims-phone"
        />
        <button type="submit" disabled={action.busy || name.trim() === ""}>
          Add a device URL
        </button>
      </form>
      {mine.length > 0 && (
        <table aria-label="Device DoH URLs">
          <thead>
            <tr>
              <th>Device</th>
              <th>Issued</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {mine.map((d) => (
              <tr key={d.id}>
                <td>{d.name}</td>
                <td>{d.dohTokenIssuedAt?.slice(0, 16).replace("T", " ")}</td>
                <td>
                  <ConfirmButton
                    question={`Revoke the DoH URL of ${d.name}? It stops being answered.`}
                    onConfirm={() => void revoke(d.id)}
                    disabled={action.busy}
                  >
                    Revoke
                  </ConfirmButton>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

type ConnectEdge = NonNullable<ConnectInfoView["edges"]>[number];

/** A value of another edge, with its copy button. */
function EdgeValue({ label, value }: { label: string; value: string | undefined }) {
  if (value === undefined) return <td>—</td>;
  return (
    <td>
      <code>{value}</code> <CopyButton text={value} label={label} />
    </td>
  );
}

/** Every edge serving the location (the first gave the values above): a device may use any. */
function EdgeList({ edges }: { edges: readonly ConnectEdge[] }) {
  return (
    <>
      <h2>Edges serving this location</h2>
      <p className="hint">Each edge answers this location's devices; point a device at any.</p>
      <table aria-label="Edges serving this location">
        <thead>
          <tr>
            <th>Edge</th>
            <th>DNS servers</th>
            <th>DoH URL</th>
            <th>DoT host name</th>
            <th>HTTP proxy</th>
          </tr>
        </thead>
        <tbody>
          {edges.map((e) => (
            <tr key={e.id}>
              <td>
                {e.name}
                <div className="hint">
                  {[e.status, e.stale ? "stale" : "", e.scope === "loopback" ? "loopback only" : ""]
                    .filter(Boolean)
                    .join(", ")}
                </div>
                {e.warnings.map((w) => (
                  <div key={w} className="hint">
                    {w}
                  </div>
                ))}
              </td>
              <EdgeValue
                label={`DNS servers of ${e.name}`}
                value={
                  e.dns.length
                    ? e.dns
                        .map((d) => (d.port === 53 ? d.address : `${d.address} port ${d.port}`))
                        .join(", ")
                    : undefined
                }
              />
              <EdgeValue label={`DoH URL of ${e.name}`} value={e.doh?.url} />
              <EdgeValue
                label={`DoT host name of ${e.name}`}
                value={
                  e.dot &&
                  (e.dot.port === 853 ? e.dot.hostname : `${e.dot.hostname} (port ${e.dot.port})`)
                }
              />
              <EdgeValue label={`HTTP proxy of ${e.name}`} value={e.proxy?.address} />
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

export function ConnectPage() {
  const { query } = useLocation();
  const locations = useResource("connect-locations", (signal) =>
    api.get<Page<Location>>("/locations", { limit: 1000 }, signal),
  );
  const items = locations.data?.items ?? [];
  const chosen = query.get("location") ?? items[0]?.id;
  const info = useResource(`connect-${chosen ?? ""}`, (signal) =>
    chosen
      ? api.get<ConnectInfoView>(`/locations/${encodeURIComponent(chosen)}/connect`, {}, signal)
      : Promise.resolve(undefined),
  );
  const action = useAction();
  const c = info.data;
  const dohProfile = c?.profiles.doh;
  const dotProfile = c?.profiles.dot;
  const certificate = c?.certificate;
  const download = (path: string) =>
    action.run(async () => {
      const p = await fetchProfile(path.startsWith(API_BASE) ? path : API_BASE + path);
      saveFile(p.name, "application/x-apple-aspen-config", p.body);
    });
  const rotate = (id: string) =>
    action.run(async () => {
      await api.post(`/locations/${encodeURIComponent(id)}/rotate-doh-token`);
      info.reload();
    });
  return (
    <section>
      <PageHead title="Connect a device" />
      <p className="hint">
        Point a phone, a laptop, a browser or the whole network at Gatehouse. Only devices inside
        the location's networks are answered over plain DNS, DoT and the proxy; the DoH URL carries
        the location's token and works from anywhere it reaches.
      </p>
      <ErrorBanner error={locations.error ?? info.error ?? action.error} />
      {items.length > 1 && chosen && (
        <SelectField
          label="Location"
          value={chosen}
          onChange={(id) => navigate(`/connect?location=${encodeURIComponent(id)}`)}
          options={items.map((l) => [l.id, l.name] as const)}
        />
      )}
      {locations.data && items.length === 0 && (
        <Notice>There is no location yet: create one on the Locations page.</Notice>
      )}
      {c && (
        <>
          <h2>{c.location.name}</h2>
          {c.warnings.map((w) => (
            <Notice key={w}>{w}</Notice>
          ))}
          {c.servedBy && (
            <p>
              Served by edge <strong data-testid="served by">{c.servedBy.name}</strong>
              {(c.edges?.length ?? 0) > 1 && " (other edges below)"}
            </p>
          )}
          <p>
            Who may use it: <code>{c.networks.join(", ") || "only its DoH URL"}</code>
          </p>
          <div className="endpoints">
            {c.dns.length > 0 && (
              <Endpoint
                label="DNS servers"
                value={c.dns.map((d) => d.address).join(", ")}
                {...(c.dns.some((d) => d.port !== 53)
                  ? { note: `port ${c.dns.map((d) => d.port).join(", ")}` }
                  : {})}
              />
            )}
            {c.doh && <Endpoint label="DoH URL" value={c.doh.url} />}
            {c.dot && (
              <Endpoint
                label="DoT host name"
                value={c.dot.hostname}
                note={`address ${c.dot.address}, port ${c.dot.port}`}
              />
            )}
            {c.proxy && <Endpoint label="PAC URL" value={c.proxy.pacUrl} />}
            {c.proxy && <Endpoint label="HTTP proxy" value={c.proxy.address} />}
          </div>
          <div className="actions">
            {dohProfile && (
              <button type="button" disabled={action.busy} onClick={() => download(dohProfile)}>
                Download Apple profile (DoH)
              </button>
            )}
            {dotProfile && (
              <button type="button" disabled={action.busy} onClick={() => download(dotProfile)}>
                Download Apple profile (DoT)
              </button>
            )}
            {certificate && (
              <button
                type="button"
                onClick={() =>
                  saveFile("gatehouse.crt", "application/x-x509-ca-cert", certificate.pem)
                }
              >
                Download certificate
              </button>
            )}
            {c.doh && (
              <ConfirmButton
                question="Replace the DoH URL? Devices set up with the current one stop being answered."
                onConfirm={() => rotate(c.location.id)}
                disabled={action.busy}
              >
                Replace the DoH URL
              </ConfirmButton>
            )}
          </div>
          {c.certificate && (
            <p className="hint">
              Certificate ({c.certificate.source}) for {c.certificate.names.join(", ")}, valid until{" "}
              {c.certificate.notAfter.slice(0, 10)}. SHA-256 fingerprint:{" "}
              <code data-testid="certificate fingerprint">{c.certificate.sha256}</code>
            </p>
          )}
          {c.edges && c.edges.length > 1 && <EdgeList edges={c.edges} />}
          {c.doh && <DeviceUrls locationId={c.location.id} dohUrl={c.doh.url} />}
          <h2>Step by step</h2>
          {c.guides.map((g) => (
            <details key={g.id} className="guide">
              <summary>{g.title}</summary>
              <ol>
                {g.steps.map((s) => (
                  <li key={s}>{s.includes("\n") ? <pre>{s}</pre> : s}</li>
                ))}
              </ol>
            </details>
          ))}
        </>
      )}
    </section>
  );
}
