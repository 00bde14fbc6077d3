// Addresses as the listeners report them: whether one is loopback (this machine only). Pure
// (browser-safe): a textual check of the forms Node gives bound addresses in.

const IPV4_LOOPBACK = /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;
/**
 * ::1 in any of its spellings (zeros written out or not), and ::ffff:127.x.x.x (IPv4-mapped):
 * only zeros before the last group. (The input is an address, not any text.)
 */
const IPV6_LOOPBACK = /^[0:]*:0{0,3}1$/;
const MAPPED_LOOPBACK = /^[0:]*:ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/i;

/** True for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104; false for names and other addresses. */
export function isLoopbackHost(host: string): boolean {
  const h = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  return IPV4_LOOPBACK.test(h) || IPV6_LOOPBACK.test(h) || MAPPED_LOOPBACK.test(h);
}
