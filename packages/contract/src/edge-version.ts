// Edge software versions: what an edge reports (heartbeat `version`, enrolment `version`, and the
// X-Gatehouse-Edge-Version header on every edge request) and how control orders them for its
// `minimumEdgeVersion` setting and the version-skew metric. Versions are dotted numbers with an
// optional pre-release ("1.4.0", "1.5.0-rc.1"): a pre-release sorts before its release, as in
// SemVer §11; build metadata ("+…") is ignored.

/** Header every edge request carries with the edge's software version. */
export const EDGE_VERSION_HEADER = "x-gatehouse-edge-version";
/**
 * Header on a config poll answer that control woke early for this edge's status (drain,
 * activate): the status the edge should follow at once, without waiting for its next heartbeat.
 */
export const EDGE_STATUS_HEADER = "x-gatehouse-edge-status";
/**
 * Header on an edge's config poll: the status it follows now (`active`, `draining`). When control
 * has another, it answers at once with EDGE_STATUS_HEADER instead of waiting, so a drain that
 * lands between two polls is not missed until the next heartbeat.
 */
export const EDGE_FOLLOWING_HEADER = "x-gatehouse-edge-following";

const VERSION =
  /^(\d{1,9})(?:\.(\d{1,9}))?(?:\.(\d{1,9}))?(?:-([0-9A-Za-z.-]{1,40}))?(?:\+[0-9A-Za-z.-]{0,40})?$/;

export interface ParsedVersion {
  readonly parts: readonly [number, number, number];
  readonly pre: string | undefined;
}

/** A version's parts, or undefined when it is not a dotted-number version. */
export function parseVersion(v: string): ParsedVersion | undefined {
  const m = VERSION.exec(v.trim());
  if (!m) return undefined;
  return {
    parts: [Number(m[1] ?? 0), Number(m[2] ?? 0), Number(m[3] ?? 0)],
    pre: m[4],
  };
}

function comparePre(a: string, b: string): number {
  const x = a.split(".");
  const y = b.split(".");
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const p = x[i];
    const q = y[i];
    if (p === undefined) return -1;
    if (q === undefined) return 1;
    const pn = /^\d+$/.test(p);
    const qn = /^\d+$/.test(q);
    if (pn && qn) {
      const d = Number(p) - Number(q);
      if (d !== 0) return Math.sign(d);
    } else if (pn !== qn) return pn ? -1 : 1;
    else if (p !== q) return p < q ? -1 : 1;
  }
  return 0;
}

/**
 * Negative when `a` is older than `b`, 0 when equal, positive when newer. A string that is not
 * a version sorts before every version (an edge that reports garbage is "older than anything").
 */
export function compareVersions(a: string, b: string): number {
  const x = parseVersion(a);
  const y = parseVersion(b);
  if (!x || !y) return x ? 1 : y ? -1 : 0;
  for (let i = 0; i < 3; i++) {
    const d = (x.parts[i] ?? 0) - (y.parts[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  if (x.pre === undefined || y.pre === undefined)
    return x.pre === y.pre ? 0 : x.pre === undefined ? 1 : -1;
  return comparePre(x.pre, y.pre);
}
