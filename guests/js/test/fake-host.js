// Fakes of the host's imports for unit tests under Node, bound with `bindHost`: config
// values, an HTTP handler, log lines and state kept in memory, and granted
// directories backed by in-memory files, shaped as the componentize-js bindings shape
// them (errors thrown with a `payload`, u64 as BigInt, resources with a dispose method).

import { bindHost, resetPreopens } from '../sdk/connector.js';

const DISPOSE = Symbol.dispose || Symbol.for('dispose');
const UTF8 = new TextEncoder();

/** What an import throws for a WIT `err`: an Error carrying the value in `payload`. */
export class FakeComponentError extends Error {
  constructor(payload) {
    super(typeof payload === 'string' ? payload : `${String(payload)} (see error.payload)`);
    Object.defineProperty(this, 'payload', { value: payload, enumerable: false });
  }
}

class FakeStream {
  constructor(fs, bytes, offset, maxChunk) {
    this.fs = fs;
    this.bytes = bytes;
    this.at = offset;
    this.maxChunk = maxChunk;
    fs.open += 1;
  }
  blockingRead(len) {
    if (typeof len !== 'bigint') throw new TypeError('blockingRead takes a BigInt');
    this.fs.reads += 1;
    if (this.at >= this.bytes.length) throw new FakeComponentError({ tag: 'closed' });
    const n = Math.min(Number(len), this.maxChunk, this.bytes.length - this.at);
    const chunk = this.bytes.slice(this.at, this.at + n);
    this.at += n;
    return chunk;
  }
  [DISPOSE]() {
    this.fs.open -= 1;
  }
}

class FakeFile {
  constructor(fs, bytes) {
    this.fs = fs;
    this.bytes = bytes;
    fs.open += 1;
  }
  readViaStream(offset) {
    if (typeof offset !== 'bigint') throw new TypeError('readViaStream takes a BigInt');
    return new FakeStream(this.fs, this.bytes, Number(offset), this.fs.maxChunk);
  }
  stat() {
    return { type: 'regular-file', size: BigInt(this.bytes.length) };
  }
  [DISPOSE]() {
    this.fs.open -= 1;
  }
}

class FakeDir {
  constructor(fs, name) {
    this.fs = fs;
    this.name = name;
  }
  openAt(pathFlags, path, openFlags, descriptorFlags) {
    if (!descriptorFlags?.read || descriptorFlags?.write) throw new FakeComponentError('access');
    const full = this.name === '/' ? `/${path}` : `${this.name}/${path}`;
    const bytes = this.fs.files.get(full);
    if (bytes === undefined) throw new FakeComponentError('no-entry');
    return new FakeFile(this.fs, bytes);
  }
}

/**
 * Binds fakes and returns what they saw. `options`: `config` (an object of values),
 * `http(request)` (returns `{status, headers, body}` or throws a FakeComponentError),
 * `dirs` (granted guest directories), `files` (`{guestPath: string | Uint8Array}`),
 * `maxChunk` (most bytes a stream read returns), `state` (initial values).
 */
export function fakeHost(options = {}) {
  const seen = { logs: [], requests: [], state: new Map(Object.entries(options.state ?? {})) };
  const fs = {
    files: new Map(Object.entries(options.files ?? {}).map(([k, v]) => [k, typeof v === 'string' ? UTF8.encode(v) : v])),
    maxChunk: options.maxChunk ?? 1 << 20,
    open: 0,
    reads: 0,
  };
  seen.fs = fs;
  const config = options.config ?? {};
  bindHost({
    config: { get: (key) => (Object.prototype.hasOwnProperty.call(config, key) ? String(config[key]) : undefined) },
    log: { log: (level, message) => seen.logs.push([level, message]) },
    state: {
      get: (key) => seen.state.get(key),
      set: (key, value) => seen.state.set(key, value),
      delete: (key) => seen.state.delete(key),
    },
    http: {
      send(request) {
        seen.requests.push(request);
        if (options.http === undefined) throw new FakeComponentError({ tag: 'denied', val: `HTTP to ${request.url} is not granted` });
        const r = options.http(request);
        return { status: r.status ?? 200, headers: r.headers ?? [], body: typeof r.body === 'string' ? UTF8.encode(r.body) : r.body ?? new Uint8Array() };
      },
    },
    preopens: { getDirectories: () => (options.dirs ?? []).map((d) => [new FakeDir(fs, d), d]) },
  });
  resetPreopens();
  return seen;
}

/** A JSON response for the fake `http` handler. */
export function jsonResponse(value, status = 200, headers = []) {
  return { status, headers: [['content-type', 'application/json'], ...headers], body: JSON.stringify(value) };
}
