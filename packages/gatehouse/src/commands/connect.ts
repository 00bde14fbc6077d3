// `gatehouse connect [--location NAME] [--control URL] [--json] [--profile doh|dot]`: what the
// dashboard's Connect page shows for a location — plain DNS addresses, the DoH URL, the DoT
// host name, the PAC URL and proxy address (each with a QR code in the terminal), the
// certificate's fingerprint and the setup steps per platform — from control's
// GET /locations/{id}/connect. --profile prints the Apple configuration profile instead.
// --device NAME gives that device its own DoH URL (a per-device token, printed once) and shows
// it in place of the location's.

import { parseArgs } from "node:util";
import type {
  ConnectInfoView,
  DeviceView,
  DeviceWithDohToken,
  LocationView,
} from "@gatehouse/contract";
import QRCode from "qrcode";
import { ControlClient } from "./control-client.ts";
import { DEFAULT_CONTROL_URL } from "./import.ts";
import type { Io } from "./rules.ts";

const USAGE = `usage: gatehouse connect [--location NAME] [--device NAME] [--control URL] [--json] [--no-qr]
       gatehouse connect [--location NAME] --profile doh|dot > gatehouse.mobileconfig

How to point a device at Gatehouse: DNS addresses, the DoH URL, the DoT host name, the PAC URL
and the proxy, with QR codes and setup steps for Windows, macOS/iOS, Android, ChromeOS,
Firefox, Chrome, Linux and a home router — what the dashboard's Connect page shows.

  --location NAME    the location (default: the first one)
  --device NAME      give this device its own DoH URL in the location (shown once; made if
                     there is no device of that name, a new URL replaces its old one); its
                     queries are logged under its name. Needs an editor token.
  --control URL      control's address (default ${DEFAULT_CONTROL_URL})
  --json             the API's answer as JSON
  --no-qr            no QR codes
  --profile doh|dot  print the Apple configuration profile (.mobileconfig) for DoH or DoT

The API token (viewer or above) comes from GATEHOUSE_TOKEN.`;

export async function connectCommand(argv: readonly string[], io: Io): Promise<number> {
  let values: ReturnType<typeof parse>["values"];
  try {
    ({ values } = parse(argv));
  } catch (e) {
    io.err(`${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    io.out(USAGE);
    return 0;
  }
  const profile = values.profile;
  if (profile !== undefined && profile !== "doh" && profile !== "dot") {
    io.err(`--profile takes doh or dot, got ${JSON.stringify(profile)}\n\n${USAGE}`);
    return 2;
  }
  const token = process.env["GATEHOUSE_TOKEN"];
  if (!token) {
    io.err("gatehouse connect: set GATEHOUSE_TOKEN to an API token (viewer or above)");
    return 2;
  }
  const base = values.control ?? DEFAULT_CONTROL_URL;
  const client = new ControlClient(base, token);
  const locs = await client.call<{ items: LocationView[] }>("GET", "/locations?limit=1000");
  const want = values.location;
  const loc =
    want === undefined
      ? locs.items[0]
      : (locs.items.find((l) => l.name === want) ??
        locs.items.find((l) => l.name.toLowerCase() === want.toLowerCase()));
  if (!loc) {
    io.err(
      want === undefined
        ? "gatehouse connect: there is no location yet"
        : `gatehouse connect: no location named ${JSON.stringify(want)} (there are: ${locs.items.map((l) => JSON.stringify(l.name)).join(", ")})`,
    );
    return 1;
  }
  let info = await client.call<ConnectInfoView>(
    "GET",
    `/locations/${encodeURIComponent(loc.id)}/connect`,
  );
  const device = values.device;
  if (device !== undefined && profile === undefined) {
    if (!info.doh) {
      io.err("gatehouse connect: no DoH listener is open, so a device URL would not be answered");
      return 1;
    }
    const token = await deviceToken(client, device, loc.id);
    info = {
      ...info,
      doh: {
        ...info.doh,
        url: info.doh.url.replace(/\/dns-query(?:\/[^/?#]*)?$/, `/dns-query/${token}`),
      },
    };
    io.err(
      `DoH URL for device ${JSON.stringify(device)}: shown this once; revoke it in the dashboard or with DELETE /identities/devices/{id}/doh-token`,
    );
  }
  if (profile !== undefined) {
    const path = info.profiles[profile];
    if (!path) {
      io.err(`gatehouse connect: no ${profile === "doh" ? "DoH" : "DoT"} listener is open`);
      return 1;
    }
    io.out((await client.text(path.replace(/^\/api\/v1/, ""))).trimEnd());
    return 0;
  }
  if (values.json) {
    io.out(JSON.stringify(info, null, 2));
    return 0;
  }
  for (const line of await formatConnect(info, base, values["no-qr"] !== true)) io.out(line);
  return 0;
}

/** A new DoH token for the device named `name` in location `locationId` (made if missing). */
async function deviceToken(
  client: ControlClient,
  name: string,
  locationId: string,
): Promise<string> {
  const devices = await client.call<{ items: DeviceView[] }>(
    "GET",
    "/identities/devices?limit=1000",
  );
  const found = devices.items.find((d) => d.name.toLowerCase() === name.toLowerCase());
  const made = found
    ? await client.call<DeviceWithDohToken>(
        "POST",
        `/identities/devices/${encodeURIComponent(found.id)}/doh-token`,
        { locationId },
      )
    : await client.call<DeviceWithDohToken>("POST", "/identities/devices", {
        name,
        locationId,
        dohToken: true,
      });
  return made.dohToken;
}

/** The text `gatehouse connect` prints (QR codes as terminal blocks when `qr`). */
async function formatConnect(
  info: ConnectInfoView,
  controlUrl: string,
  qr: boolean,
): Promise<string[]> {
  const out: string[] = [`Connect a device to "${info.location.name}"`, ""];
  if (info.servedBy) out.push(`${"edge".padEnd(16)}${info.servedBy.name} (${info.servedBy.id})`);
  const item = async (label: string, value: string) => {
    out.push(`${label.padEnd(16)}${value}`);
    if (qr)
      out.push(
        ...(await QRCode.toString(value, { type: "terminal", small: true })).trimEnd().split("\n"),
      );
  };
  if (info.dns.length)
    await item(
      "DNS servers",
      info.dns.map((d) => (d.port === 53 ? d.address : `${d.address} port ${d.port}`)).join(", "),
    );
  if (info.doh) await item("DoH URL", info.doh.url);
  if (info.dot)
    await item(
      "DoT host name",
      info.dot.port === 853 ? info.dot.hostname : `${info.dot.hostname} (port ${info.dot.port})`,
    );
  if (info.proxy) {
    await item("PAC URL", info.proxy.pacUrl);
    await item("HTTP proxy", info.proxy.address);
  }
  if (info.certificate)
    out.push(
      `${"certificate".padEnd(16)}${info.certificate.source}, SHA-256 ${info.certificate.sha256}`,
    );
  out.push(
    `${"who may use it".padEnd(16)}${info.networks.join(", ") || "(no networks: DoH URL only)"}`,
  );
  const base = controlUrl.replace(/\/+$/, "");
  for (const [t, path] of Object.entries(info.profiles))
    out.push(
      `${`${t.toUpperCase()} profile`.padEnd(16)}${base}${path}   (Apple devices; needs the token)`,
    );
  if (info.warnings.length) out.push("", "Note:", ...info.warnings.map((w) => `  - ${w}`));
  const edges = info.edges ?? [];
  if (edges.length > 1) {
    out.push("", `Edges serving "${info.location.name}" (a device may use any):`);
    for (const e of edges) out.push("", ...edgeLines(e));
  }
  for (const g of info.guides) {
    out.push("", `${g.title}:`);
    g.steps.forEach((s, i) => {
      const [first, ...rest] = s.split("\n");
      out.push(`  ${i + 1}. ${first}`, ...rest.map((r) => `       ${r}`));
    });
  }
  return out;
}

/** One edge of a Connect answer, as the page lists it. */
function edgeLines(e: NonNullable<ConnectInfoView["edges"]>[number]): string[] {
  const state = [
    e.status,
    ...(e.stale ? ["stale"] : []),
    e.scope === "loopback" ? "loopback only" : "",
  ]
    .filter(Boolean)
    .join(", ");
  const out = [`  ${e.name} (${e.id}; ${state})`];
  const row = (label: string, value: string) => out.push(`    ${label.padEnd(14)}${value}`);
  if (e.dns.length)
    row(
      "DNS servers",
      e.dns.map((d) => (d.port === 53 ? d.address : `${d.address} port ${d.port}`)).join(", "),
    );
  if (e.doh) row("DoH URL", e.doh.url);
  if (e.dot)
    row(
      "DoT host name",
      e.dot.port === 853 ? e.dot.hostname : `${e.dot.hostname} (port ${e.dot.port})`,
    );
  if (e.proxy) row("HTTP proxy", `${e.proxy.address}   PAC ${e.proxy.pacUrl}`);
  if (e.certificate) row("certificate", `SHA-256 ${e.certificate.sha256}`);
  for (const w of e.warnings) out.push(`    - ${w}`);
  return out;
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    options: {
      location: { type: "string" },
      device: { type: "string" },
      control: { type: "string" },
      json: { type: "boolean" },
      "no-qr": { type: "boolean" },
      profile: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
}
