// Reading files in the directories the operator granted (`[[dirs]]` in the manifest),
// through `wasi:filesystem`: the preopened directories, a descriptor opened read-only
// under the one that holds the path, and its input stream read in large chunks.
//
//   const text = files.readText('/feeds/items.json');
//   const lines = files.lines('/feeds/items.jsonl', { offset });   // byte offsets
//   for (let l = lines.next(); l !== null; l = lines.next()) { ... }
//   lines.close();
//
// A path outside every granted directory is `denied`; a missing file `not-found`
// (saying to check the grant); a read that fails `other`. Paths are the guest's
// (`/feeds/x.jsonl` when the manifest grants a directory as `guest = "/feeds"`).

import { Denied, NotFound, Other, Parse } from './errors.js';
import { hostPart } from './host.js';

/** Bytes read from the stream per host call. */
export const CHUNK_BYTES = 1 << 20;

const DISPOSE = Symbol.dispose || Symbol.for('dispose');

/** Drops a WIT resource now rather than when the instance ends. */
function drop(resource) {
  try {
    resource?.[DISPOSE]?.();
  } catch {
    // Already dropped: nothing to do.
  }
}

/** What a `wasi:filesystem` error code means, in words. */
const CODES = {
  access: 'permission denied',
  'not-permitted': 'operation not permitted',
  'read-only': 'read-only file system',
  'no-entry': 'no such file or directory',
  'is-directory': 'is a directory',
  'not-directory': 'a path component is not a directory',
  loop: 'too many symbolic links',
  'name-too-long': 'file name too long',
  'bad-descriptor': 'bad descriptor',
  'insufficient-memory': 'not enough memory',
  io: 'input/output error',
};

/** The ConnectorError for a filesystem failure `e` while doing `what` to `path`. */
function fsError(e, what, path) {
  const code = typeof e?.payload === 'string' ? e.payload : undefined;
  if (code === undefined) return e;
  const words = CODES[code] ?? code;
  const message = `cannot ${what} ${path}: ${words}`;
  if (code === 'no-entry') return new NotFound(`${message} (is its directory granted in the manifest?)`);
  if (code === 'access' || code === 'not-permitted') return new Denied(message);
  return new Other(message);
}

/** The granted directories `[descriptor, guestPath]`, asked of the host once per instance. */
let preopened = null;
function preopens() {
  if (preopened === null) {
    preopened = hostPart('preopens')
      .getDirectories()
      .map(([descriptor, name]) => [descriptor, normalise(name)]);
  }
  return preopened;
}

/** For unit tests: forget the preopens asked of the host. */
export function resetPreopens() {
  preopened = null;
}

/** A guest path without `.` segments, doubled or trailing slashes (`/` stays `/`). */
function normalise(path) {
  const absolute = path.startsWith('/');
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  const joined = parts.join('/');
  return absolute ? `/${joined}` : joined;
}

/** The granted directory holding `path`, and the path relative to it. */
function locate(path) {
  const p = normalise(path);
  let best = null;
  for (const [descriptor, name] of preopens()) {
    let rest = null;
    if (name === '/') {
      if (p.startsWith('/')) rest = p.slice(1);
    } else if (name === '') {
      // A relative preopen (`.`) holds the relative paths.
      if (!p.startsWith('/')) rest = p;
    } else if (p === name) {
      rest = '';
    } else if (p.startsWith(`${name}/`)) {
      rest = p.slice(name.length + 1);
    }
    if (rest !== null && (best === null || name.length > best.name.length)) best = { descriptor, name, rest };
  }
  if (best === null) {
    const granted = preopens().map(([, n]) => n);
    throw new Denied(
      `cannot open ${path}: it is in no granted directory (granted: ${granted.length ? granted.join(', ') : 'none'})`,
    );
  }
  return best;
}

/** An open file, read-only. */
export class File {
  constructor(path, descriptor) {
    this.path = path;
    this.descriptor = descriptor;
  }

  /** The file's size in bytes. */
  size() {
    try {
      return Number(this.descriptor.stat().size);
    } catch (e) {
      throw fsError(e, 'stat', this.path);
    }
  }

  /**
   * Calls `each(chunk)` with the file's bytes from `offset` on, in chunks of up to
   * `chunkBytes`, until the end or until `each` returns `false`.
   */
  readChunks(offset, each, chunkBytes = CHUNK_BYTES) {
    let stream;
    try {
      stream = this.descriptor.readViaStream(BigInt(offset));
    } catch (e) {
      throw fsError(e, 'read', this.path);
    }
    try {
      for (;;) {
        let chunk;
        try {
          chunk = stream.blockingRead(BigInt(chunkBytes));
        } catch (e) {
          if (e?.payload?.tag === 'closed') return;
          const detail = e?.payload?.val?.toDebugString?.() ?? e?.message ?? String(e);
          throw new Other(`cannot read ${this.path}: ${detail}`);
        }
        if (chunk.length > 0 && each(chunk) === false) return;
      }
    } finally {
      drop(stream);
    }
  }

  /** The whole file from `offset` on, as bytes. */
  readBytes(offset = 0) {
    const chunks = [];
    let total = 0;
    this.readChunks(offset, (c) => {
      chunks.push(c);
      total += c.length;
    });
    if (chunks.length === 1) return chunks[0];
    const out = new Uint8Array(total);
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }

  /** Releases the descriptor. */
  close() {
    drop(this.descriptor);
    this.descriptor = null;
  }
}

/** Opens `path` (in a granted directory) for reading. */
export function open(path) {
  const { descriptor, rest } = locate(path);
  try {
    return new File(path, descriptor.openAt({ symlinkFollow: true }, rest === '' ? '.' : rest, {}, { read: true }));
  } catch (e) {
    throw fsError(e, 'open', path);
  }
}

/**
 * Reads a file line by line from byte `offset`, keeping track of byte offsets (so that
 * a cursor can say where the next page starts and the next page can seek there).
 * `next()` returns `{bytes, start, end}` (the line's bytes without its `\n`, and its
 * byte range in the file including the `\n`) or null at the end.
 */
export class LineReader {
  constructor(file, offset = 0, chunkBytes = CHUNK_BYTES) {
    this.file = file;
    this.chunkBytes = chunkBytes;
    this.buf = new Uint8Array(0);
    this.pos = 0;
    /** The file offset of `buf[0]`. */
    this.base = offset;
    this.eof = false;
    this.stream = null;
    this.offset = offset;
  }

  /** Reads one more chunk into the buffer; false at the end of the file. */
  fill() {
    if (this.eof) return false;
    if (this.stream === null) {
      try {
        this.stream = this.file.descriptor.readViaStream(BigInt(this.offset));
      } catch (e) {
        throw fsError(e, 'read', this.file.path);
      }
    }
    let chunk;
    do {
      try {
        chunk = this.stream.blockingRead(BigInt(this.chunkBytes));
      } catch (e) {
        if (e?.payload?.tag === 'closed') {
          this.eof = true;
          return false;
        }
        const detail = e?.payload?.val?.toDebugString?.() ?? e?.message ?? String(e);
        throw new Other(`cannot read ${this.file.path}: ${detail}`);
      }
    } while (chunk.length === 0);
    const rest = this.buf.length - this.pos;
    if (rest === 0) {
      this.base += this.buf.length;
      this.buf = chunk;
    } else {
      const joined = new Uint8Array(rest + chunk.length);
      joined.set(this.buf.subarray(this.pos), 0);
      joined.set(chunk, rest);
      this.base += this.pos;
      this.buf = joined;
    }
    this.pos = 0;
    return true;
  }

  /** The next line, or null at the end of the file. */
  next() {
    for (;;) {
      const nl = this.buf.indexOf(10, this.pos);
      if (nl !== -1) {
        const start = this.base + this.pos;
        const bytes = this.buf.subarray(this.pos, nl);
        this.pos = nl + 1;
        return { bytes, start, end: this.base + this.pos };
      }
      if (!this.fill()) {
        if (this.pos >= this.buf.length) return null;
        const start = this.base + this.pos;
        const bytes = this.buf.subarray(this.pos);
        this.pos = this.buf.length;
        return { bytes, start, end: this.base + this.pos };
      }
    }
  }

  /** Whether any byte is left after the last line returned. */
  hasMore() {
    return this.pos < this.buf.length || this.fill();
  }

  /** Releases the stream and the file. */
  close() {
    drop(this.stream);
    this.stream = null;
    this.file.close();
  }
}

/** The file functions, as `files.open(path)`, `files.readText(path)`, `files.lines(path)`. */
export const files = {
  open,
  /** The whole file as bytes. */
  readBytes(path) {
    const f = open(path);
    try {
      return f.readBytes();
    } finally {
      f.close();
    }
  },
  /** The whole file as text (UTF-8; malformed bytes are a `parse` error naming the file). */
  readText(path) {
    const bytes = files.readBytes(path);
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      throw new Parse(`${path} is not UTF-8 text`);
    }
  },
  /** A LineReader over `path` from byte `offset`; close it when done. */
  lines(path, { offset = 0, chunkBytes = CHUNK_BYTES } = {}) {
    return new LineReader(open(path), offset, chunkBytes);
  },
};
