// Files the edge must never leave half-written (its credential, its last good bundle): write a
// temporary file beside the target, fsync it, rename over the target, fsync the directory.
// rename(2) is atomic within one filesystem, so a crash leaves the old file or the new one.

import { randomBytes } from "node:crypto";
import { type FileHandle, mkdir, open, readFile, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";

export function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  mode = 0o600,
): Promise<void> {
  return writeFileAtomicWith(path, (fh) => fh.writeFile(data), mode);
}

/** writeFileAtomic with the content written by `write` (e.g. in chunks, as it is produced). */
export async function writeFileAtomicWith(
  path: string,
  write: (fh: FileHandle) => Promise<void>,
  mode = 0o600,
): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${randomBytes(6).toString("hex")}.tmp`;
  // A failure anywhere (ENOSPC mid-write, a failed fsync or rename) removes the temporary file:
  // a full disk must not be left fuller by partial files.
  try {
    const fh = await open(tmp, "w", mode);
    try {
      await write(fh);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => {});
    throw e;
  }
  await syncDir(dirname(path));
}

/** Persist a rename in `dir`; not every platform lets a directory be opened for fsync. */
export async function syncDir(dir: string): Promise<void> {
  try {
    const fh = await open(dir, "r");
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // best effort
  }
}

/** The temporary files writeFileAtomic leaves when the process dies mid-write. */
export const ATOMIC_TMP = /\.[0-9a-f]{12}\.tmp$/;

/** The file's text, or undefined when it does not exist. */
export async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}
