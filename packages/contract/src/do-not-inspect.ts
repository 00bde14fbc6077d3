// The built-in do-not-inspect list: hosts whose clients pin their certificates (inspection would
// break them: they refuse any certificate but their vendor's) and operating-system and browser
// update services (whose clients verify the vendor's chain, and whose traffic an HTTP policy has
// no business with). `gatehouse up` creates it as an ordinary domain list with an HTTP policy
// whose action is do_not_inspect (a name on it matches its subdomains too); both are edited or
// deleted like any other. The names come from the vendors' own documentation of the endpoints
// their devices and updaters reach through proxies (Apple's enterprise-network and software-update
// hosts, Windows Update, Google Play services and Chrome updates, Mozilla's update service, the
// major Linux distributions' package archives) and from messaging apps known to pin; it is a
// starting point, not a complete list.

/** The list's name (rules refer to it as `$do_not_inspect_builtin`). */
export const BUILTIN_DO_NOT_INSPECT_LIST = "do_not_inspect_builtin";

export const BUILTIN_DO_NOT_INSPECT_ITEMS: readonly string[] = [
  // Apple: push, device enrolment and management, software update, app attestation
  "push.apple.com",
  "albert.apple.com",
  "identity.apple.com",
  "deviceenrollment.apple.com",
  "deviceservices-external.apple.com",
  "iprofiles.apple.com",
  "mdmenrollment.apple.com",
  "gdmf.apple.com",
  "mesu.apple.com",
  "swscan.apple.com",
  "swcdn.apple.com",
  "swdist.apple.com",
  "swdownload.apple.com",
  "updates.cdn-apple.com",
  "updates-http.cdn-apple.com",
  "appattest.apple.com",
  // Microsoft: Windows Update and Delivery Optimization
  "windowsupdate.com",
  "update.microsoft.com",
  "windowsupdate.microsoft.com",
  "delivery.mp.microsoft.com",
  "do.dsp.mp.microsoft.com",
  "wustat.windows.com",
  // Google: Play services and Firebase messaging (pinned), Chrome and Android updates
  "android.clients.google.com",
  "android.googleapis.com",
  "mtalk.google.com",
  "play.googleapis.com",
  "update.googleapis.com",
  "gvt1.com",
  // Mozilla: Firefox's update service (pinned)
  "aus5.mozilla.org",
  // Linux distributions' package archives and stores
  "deb.debian.org",
  "security.debian.org",
  "archive.ubuntu.com",
  "security.ubuntu.com",
  "api.snapcraft.io",
  "mirrors.fedoraproject.org",
  "dl.flathub.org",
  // Messaging apps that pin their servers' certificates
  "whatsapp.net",
  "chat.signal.org",
  "storage.signal.org",
  "cdn.signal.org",
  "cdn2.signal.org",
];

/** The list and the policy `gatehouse up` creates, in the API's shape. */
export const BUILTIN_DO_NOT_INSPECT = {
  list: {
    name: BUILTIN_DO_NOT_INSPECT_LIST,
    type: "domain",
    description:
      "Built in, editable: certificate-pinned apps and OS/browser update services, never decrypted (a name matches its subdomains too).",
    items: BUILTIN_DO_NOT_INSPECT_ITEMS,
  },
  policy: {
    name: "Do not inspect pinned apps and OS updates",
    description:
      "Built in, editable: TLS to the hosts on $do_not_inspect_builtin is tunnelled untouched even where a location inspects.",
    type: "http",
    // do_not_inspect policies run before other HTTP policies whatever their precedence.
    precedence: 1_000_000,
    expression: `any(http.conn.domains[*] in $${BUILTIN_DO_NOT_INSPECT_LIST})`,
    action: "do_not_inspect",
  },
} as const;
