// Just enough of ZIP (PKWARE APPNOTE: stored and deflated entries, read through the central
// directory) and of gzip-compressed ustar/GNU tar to take the files out of a Pi-hole Teleporter
// backup. Every entry's size is bounded; an archive that lies about its sizes is refused.

import { gunzipSync, inflateRawSync } from "node:zlib";

/** The most an import unpacks in all (a gravity.db with several million domains fits). */
const MAX_UNPACKED_BYTES = 1024 * 1024 * 1024;

export class ArchiveError extends Error {}

export function isZip(b: Buffer): boolean {
  return b.length >= 4 && b.readUInt32LE(0) === 0x04034b50;
}
export function isGzip(b: Buffer): boolean {
  return b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;
}

/** The files of a ZIP archive by path (directories left out). */
export function readZip(b: Buffer, limit = MAX_UNPACKED_BYTES): Map<string, Buffer> {
  // End of central directory: the last 22 bytes plus at most a 64 KiB comment.
  let eocd = -1;
  for (let i = b.length - 22; i >= Math.max(0, b.length - 22 - 0xffff); i--)
    if (b.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  if (eocd < 0) throw new ArchiveError("not a ZIP archive (no end of central directory)");
  const count = b.readUInt16LE(eocd + 10);
  let p = b.readUInt32LE(eocd + 16);
  const out = new Map<string, Buffer>();
  let total = 0;
  for (let n = 0; n < count; n++) {
    if (p + 46 > b.length || b.readUInt32LE(p) !== 0x02014b50)
      throw new ArchiveError("corrupt ZIP central directory");
    const method = b.readUInt16LE(p + 10);
    const csize = b.readUInt32LE(p + 20);
    const usize = b.readUInt32LE(p + 24);
    const nameLen = b.readUInt16LE(p + 28);
    const extraLen = b.readUInt16LE(p + 30);
    const commentLen = b.readUInt16LE(p + 32);
    const local = b.readUInt32LE(p + 42);
    const name = b.toString("utf8", p + 46, p + 46 + nameLen);
    p += 46 + nameLen + extraLen + commentLen;
    if (name.endsWith("/")) continue;
    if (csize === 0xffffffff || usize === 0xffffffff)
      throw new ArchiveError("ZIP64 archives are not supported");
    total += usize;
    if (total > limit) throw new ArchiveError(`the archive unpacks to more than ${limit} bytes`);
    if (local + 30 > b.length || b.readUInt32LE(local) !== 0x04034b50)
      throw new ArchiveError(`corrupt ZIP entry ${name}`);
    const start = local + 30 + b.readUInt16LE(local + 26) + b.readUInt16LE(local + 28);
    const data = b.subarray(start, start + csize);
    if (data.length !== csize) throw new ArchiveError(`truncated ZIP entry ${name}`);
    let content: Buffer;
    if (method === 0) content = Buffer.from(data);
    else if (method === 8) content = inflateRawSync(data, { maxOutputLength: Math.max(usize, 1) });
    else throw new ArchiveError(`ZIP entry ${name}: compression method ${method} is not supported`);
    if (content.length !== usize) throw new ArchiveError(`ZIP entry ${name}: size mismatch`);
    out.set(name.replace(/^\.?\/+/, ""), content);
  }
  return out;
}

/** The regular files of a gzip-compressed tar archive by path. */
export function readTarGz(b: Buffer, limit = MAX_UNPACKED_BYTES): Map<string, Buffer> {
  let tar: Buffer;
  try {
    tar = gunzipSync(b, { maxOutputLength: limit });
  } catch (e) {
    throw new ArchiveError(`not a readable gzip file: ${(e as Error).message}`);
  }
  const out = new Map<string, Buffer>();
  let p = 0;
  let longName: string | undefined;
  while (p + 512 <= tar.length) {
    const h = tar.subarray(p, p + 512);
    if (h.every((x) => x === 0)) break;
    const str = (o: number, l: number) => h.toString("utf8", o, o + l).replace(/\0.*$/s, "");
    const size = Number.parseInt(str(124, 12).trim() || "0", 8);
    if (!Number.isFinite(size) || size < 0) throw new ArchiveError("corrupt tar header");
    const type = String.fromCharCode(h.readUInt8(156));
    const prefix = str(345, 155);
    let name = longName ?? (prefix ? `${prefix}/${str(0, 100)}` : str(0, 100));
    longName = undefined;
    const body = tar.subarray(p + 512, p + 512 + size);
    if (body.length !== size) throw new ArchiveError(`truncated tar entry ${name}`);
    if (type === "L") longName = body.toString("utf8").replace(/\0.*$/s, "");
    else if (type === "0" || type === "\0") {
      name = name.replace(/^\.?\/+/, "");
      out.set(name, Buffer.from(body));
    }
    p += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}
