// "host:port" listen/connect addresses, IPv6 in brackets ("[::1]:53").

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export function splitHostPort(addr: string, defaultPort?: number): HostPort {
  let host: string;
  let portText: string | undefined;
  if (addr.startsWith("[")) {
    const close = addr.indexOf("]");
    if (close === -1) throw new Error(`bad address "${addr}": missing "]"`);
    host = addr.slice(1, close);
    const rest = addr.slice(close + 1);
    if (rest !== "" && !rest.startsWith(":")) throw new Error(`bad address "${addr}"`);
    portText = rest === "" ? undefined : rest.slice(1);
  } else {
    const colon = addr.lastIndexOf(":");
    if (colon === -1 || addr.indexOf(":") !== colon) {
      // No port, or a bare IPv6 address without brackets.
      host = addr;
      portText = undefined;
    } else {
      host = addr.slice(0, colon);
      portText = addr.slice(colon + 1);
    }
  }
  if (portText === undefined) {
    if (defaultPort === undefined) throw new Error(`address "${addr}" needs a port`);
    return { host, port: defaultPort };
  }
  if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) > 65535)
    throw new Error(`bad port in address "${addr}"`);
  return { host: host === "" ? "0.0.0.0" : host, port: Number(portText) };
}

/** Format for display and for `edge.addresses`. */
export function joinHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
