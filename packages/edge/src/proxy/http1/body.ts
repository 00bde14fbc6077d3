// Message bodies (RFC 9112 §6–§7): a body framed by Content-Length, or chunked. Both decoders
// are fed the bytes as they arrive, hand out the data as slices of the input (no copies), and
// say where the message ended, so the bytes after it (the next pipelined request, or the next
// response on a reused origin connection) are never read as body. The chunked decoder is strict:
// hex sizes of bounded length, CRLF after every part, extensions of bounded size and valid
// syntax, trailer fields validated like header fields (and then dropped: this hop does not
// forward trailers).

import type { Socket } from "node:net";

/** A body the next hop could frame differently from us: answered 400 (client) or 502 (origin). */
export class BodyError extends Error {
  readonly code = "BODY_INVALID";
}

export type DataSink = (chunk: Buffer) => void;

export interface BodyDecoder {
  /** Body bytes still owed by a Content-Length body; -1 for chunked. */
  readonly remaining: number;
  readonly done: boolean;
  /**
   * Consume `buf[start…]`, handing data to `sink`. Returns the offset just past the message's
   * end, or -1 when all of it was consumed and more is needed. Throws BodyError.
   */
  feed(buf: Buffer, start: number, sink: DataSink): number;
}

export class LengthBody implements BodyDecoder {
  remaining: number;
  constructor(length: number) {
    this.remaining = length;
  }
  get done(): boolean {
    return this.remaining === 0;
  }
  feed(buf: Buffer, start: number, sink: DataSink): number {
    const avail = buf.length - start;
    if (avail <= 0) return this.remaining === 0 ? start : -1;
    if (avail < this.remaining) {
      this.remaining -= avail;
      sink(start === 0 ? buf : buf.subarray(start));
      return -1;
    }
    const end = start + this.remaining;
    this.remaining = 0;
    if (end > start) sink(start === 0 && end === buf.length ? buf : buf.subarray(start, end));
    return end;
  }
}

// Chunked decoder states.
const SIZE = 0;
const EXT = 1;
const SIZE_LF = 2;
const DATA = 3;
const DATA_CR = 4;
const DATA_LF = 5;
const TRAILER = 6;
const TRAILER_LF = 7;
const DONE = 8;

/** Hex digits in a chunk size: 2^48 bytes is more than any body we will carry. */
const MAX_SIZE_DIGITS = 12;
/** Bytes of extensions after one chunk size, and of the whole trailer section. */
const MAX_EXT_BYTES = 1024;
const MAX_TRAILER_BYTES = 8192;

const HEX = new Int8Array(256).fill(-1);
for (let c = 0; c < 10; c++) HEX[48 + c] = c;
for (let c = 0; c < 6; c++) {
  HEX[65 + c] = 10 + c;
  HEX[97 + c] = 10 + c;
}

// chunk-ext = *( ";" chunk-ext-name [ "=" chunk-ext-val ] ), without the optional whitespace
// (BWS) RFC 9112 §7.1.1 tolerates: the strict reading. Each alternative starts with a distinct
// character, so the match is linear.
const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const QUOTED = '"(?:[\\t !#-\\[\\]-~\\x80-\\xff]|\\\\[\\t -~\\x80-\\xff])*"';
const EXTENSIONS = new RegExp(`^(?:;${TOKEN}(?:=(?:${TOKEN}|${QUOTED}))?)*$`);
// A trailer field line, same rules as a header field line (syntax.ts).
const TRAILER_LINE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+:[\t\x20-\x7e\x80-\xff]*$/;

export class ChunkedBody implements BodyDecoder {
  readonly remaining = -1;
  #state = SIZE;
  #size = 0;
  #digits = 0;
  #left = 0;
  #ext = "";
  #line = "";
  #trailerBytes = 0;

  get done(): boolean {
    return this.#state === DONE;
  }

  feed(buf: Buffer, start: number, sink: DataSink): number {
    let i = start;
    const n = buf.length;
    while (i < n) {
      // i < n: never past the end (0 stands in for the type's `undefined`).
      const c = buf[i] ?? 0;
      switch (this.#state) {
        case SIZE: {
          const h = HEX[c] ?? -1;
          if (h >= 0) {
            if (++this.#digits > MAX_SIZE_DIGITS) throw new BodyError("chunk size too large");
            this.#size = this.#size * 16 + h;
            i++;
          } else if (this.#digits === 0) {
            throw new BodyError("invalid chunk size");
          } else if (c === 13) {
            this.#state = SIZE_LF;
            i++;
          } else if (c === 59 /* ; */) {
            this.#state = EXT;
            this.#ext = "";
          } else throw new BodyError("invalid chunk size");
          break;
        }
        case EXT: {
          let j = i;
          while (j < n && buf[j] !== 13) j++;
          if (this.#ext.length + (j - i) > MAX_EXT_BYTES) {
            throw new BodyError("chunk extensions too long");
          }
          this.#ext += buf.toString("latin1", i, j);
          i = j;
          if (i < n) {
            if (!EXTENSIONS.test(this.#ext)) throw new BodyError("invalid chunk extension");
            this.#state = SIZE_LF;
            i++;
          }
          break;
        }
        case SIZE_LF:
          if (c !== 10) throw new BodyError("chunk size line not ended by CRLF");
          i++;
          if (this.#size === 0) {
            this.#state = TRAILER;
            this.#line = "";
          } else {
            this.#left = this.#size;
            this.#state = DATA;
          }
          this.#size = 0;
          this.#digits = 0;
          break;
        case DATA: {
          const take = Math.min(this.#left, n - i);
          sink(buf.subarray(i, i + take));
          this.#left -= take;
          i += take;
          if (this.#left === 0) this.#state = DATA_CR;
          break;
        }
        case DATA_CR:
          if (c !== 13) throw new BodyError("chunk data not followed by CRLF");
          this.#state = DATA_LF;
          i++;
          break;
        case DATA_LF:
          if (c !== 10) throw new BodyError("chunk data not followed by CRLF");
          this.#state = SIZE;
          i++;
          break;
        case TRAILER: {
          let j = i;
          while (j < n && buf[j] !== 13 && buf[j] !== 10) j++;
          this.#trailerBytes += j - i + 2;
          if (this.#trailerBytes > MAX_TRAILER_BYTES) throw new BodyError("trailers too large");
          this.#line += buf.toString("latin1", i, j);
          i = j;
          if (i < n) {
            if (buf[i] === 10) throw new BodyError("bare LF in the trailer section");
            this.#state = TRAILER_LF;
            i++;
          }
          break;
        }
        case TRAILER_LF:
          if (c !== 10) throw new BodyError("bare CR in the trailer section");
          i++;
          if (this.#line === "") {
            this.#state = DONE;
            return i;
          }
          if (!TRAILER_LINE.test(this.#line)) throw new BodyError("invalid trailer field");
          this.#line = "";
          this.#state = TRAILER;
          break;
        default:
          return i;
      }
    }
    return this.#state === DONE ? i : -1;
  }
}

/** The size line that frames `length` bytes as one chunk for the next hop. */
function chunkHeader(length: number): string {
  return `${length.toString(16)}\r\n`;
}

export const LAST_CHUNK = "0\r\n\r\n";

/**
 * `data` as one chunk on `socket`, in one corked write: after `before` (a response head, or
 * nothing) and followed by `after` (the chunk's CRLF, plus the last chunk when it ends the
 * body). `onWritten` runs once it all went out. Returns false when the socket's buffer is full.
 */
export function writeChunk(
  socket: Socket,
  data: Buffer,
  before = "",
  after = "\r\n",
  onWritten?: (err?: Error | null) => void,
): boolean {
  socket.cork();
  socket.write(before + chunkHeader(data.length), "latin1");
  socket.write(data);
  const ok = socket.write(after, "latin1", onWritten);
  socket.uncork();
  return ok;
}
