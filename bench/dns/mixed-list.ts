// Generated blocklist lines shaped like merged published lists, for the memory benches
// (lists-memory.ts, memory.ts --mixed): `name(i)` a realistic name (distinct for each i),
// `mixedLine(i)` one line of a mixed adblock-syntax list: about 90 % names (plain, hosts,
// `||x^`), 3 % `@@` exceptions, 2 % `||adN*.x^` wildcards, 1 % each of `|x^`, `$important`,
// `$dnstype`, `||*.x^` (one in ten of those a `/regex/`: 1,000 per million lines) and
// `$third-party` (skipped by the edge).

// Realistic names: 2-4 labels of 4-14 chars, three formats mixed like merged public lists.
export function name(i: number): string {
  let x = (i * 2654435761) >>> 0;
  const labels: string[] = [];
  const n = 2 + (x % 3);
  for (let l = 0; l < n; l++) {
    x = (x * 1103515245 + 12345) >>> 0;
    const len = 4 + (x % 11);
    let s = "";
    for (let k = 0; k < len; k++) {
      x = (x * 1103515245 + 12345) >>> 0;
      s += String.fromCharCode(97 + (x % 26));
    }
    labels.push(s);
  }
  return `${labels.join(".")}${i}.example`;
}
/** One line of a mixed list: mostly names, and every other rule form now and then. */
export function mixedLine(i: number): string {
  const n = name(i);
  switch (i % 100) {
    case 0:
    case 1:
    case 2:
      return `@@||${n}^`;
    case 3:
    case 4:
      return `||ad${i % 997}*.${n}^`;
    case 5:
      return `|${n}^`;
    case 6:
      return `||${n}^$important`;
    case 7:
      return `||${n}^$dnstype=AAAA|HTTPS`;
    case 8:
      return i % 1000 === 8 ? `/^trk${i % 9973}[0-9]*\\./` : `||*.${n}^`;
    case 9:
      return `||${n}^$third-party`;
    default:
      return i % 3 === 0 ? `0.0.0.0 ${n}` : i % 3 === 1 ? `||${n}^` : n;
  }
}
