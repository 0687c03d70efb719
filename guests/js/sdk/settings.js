// A connector's settings: read from the host's `config` interface once per run, with
// the same rules and the same error wording as the Rust SDK (`guests/sdk/src/settings.rs`).
//
// A connector writes one function that builds its settings from a ConfigReader and
// keeps them in a cell made with `settings(read)`:
//
//   const SETTINGS = settings((cfg) => ({
//     path: cfg.required('path', 'the feed file to read'),
//     pageSize: cfg.positiveInt('page_size') ?? 1000,
//   }));
//   // in the connector:  const s = SETTINGS.get();
//   // in a unit test:    fromPairs(read, [['path', '/data/feed.jsonl']])
//
// Every value is trimmed and an empty one counts as not set. Every error is an
// `invalid-config` naming the key: "config `path` is required: the feed file to read",
// "config `page_size` is `0`; expected a positive whole number".

import { InvalidConfig } from './errors.js';
import { hostPart } from './host.js';

/** The error for a required `key` that is not set. */
export function missing(key, what) {
  return new InvalidConfig(`config \`${key}\` is required: ${what}`);
}

/** The error for a `value` of `key` that is not what was `expected`. */
export function badValue(key, value, expected) {
  return new InvalidConfig(`config \`${key}\` is \`${value}\`; expected ${expected}`);
}

const RECORD_TYPES = ['document', 'event', 'entity', 'claim', 'metric'];

/** Reads config values by key through `lookup(key) -> string | undefined`. */
export class ConfigReader {
  constructor(lookup) {
    this.lookup = lookup;
  }

  /** The value of `key`, trimmed; undefined when it is not set or is empty. */
  opt(key) {
    const v = this.lookup(key);
    if (v === undefined || v === null) return undefined;
    const t = String(v).trim();
    return t === '' ? undefined : t;
  }

  /** The value of `key`, or `fallback` when it is not set. */
  optOr(key, fallback) {
    return this.opt(key) ?? fallback;
  }

  /** The value of `key`; when it is not set, an error saying what it is for. */
  required(key, what) {
    const v = this.opt(key);
    if (v === undefined) throw missing(key, what);
    return v;
  }

  /** The value of `key`, one of `allowed` (compared exactly), or undefined when not set. */
  oneOf(key, allowed) {
    const v = this.opt(key);
    if (v !== undefined && !allowed.includes(v)) throw badValue(key, v, `one of ${allowed.join(', ')}`);
    return v;
  }

  /**
   * The value of `key` as a whole number within `[min, max]` (both optional), or
   * undefined when it is not set. Only digits, with an optional sign, are accepted.
   */
  int(key, { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = {}) {
    const v = this.opt(key);
    if (v === undefined) return undefined;
    const n = /^[+-]?\d+$/.test(v) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      let range = '';
      if (min > Number.MIN_SAFE_INTEGER && max < Number.MAX_SAFE_INTEGER) range = ` from ${min} to ${max}`;
      else if (min > Number.MIN_SAFE_INTEGER) range = ` of at least ${min}`;
      else if (max < Number.MAX_SAFE_INTEGER) range = ` of at most ${max}`;
      throw badValue(key, v, `a whole number${range}`);
    }
    return n;
  }

  /** The value of `key` as a number from 1 to 4294967295 (a `u32`), or undefined. */
  positiveInt(key) {
    const v = this.opt(key);
    if (v === undefined) return undefined;
    const n = /^\+?\d+$/.test(v) ? Number(v) : NaN;
    if (!Number.isInteger(n) || n < 1 || n > 0xffffffff) throw badValue(key, v, 'a positive whole number');
    return n;
  }

  /**
   * The value of `key` as a boolean (`true`/`false`, `yes`/`no`, `on`/`off`, `1`/`0`,
   * in any case), or `fallback` when it is not set.
   */
  bool(key, fallback = undefined) {
    const v = this.opt(key);
    if (v === undefined) return fallback;
    switch (v.toLowerCase()) {
      case 'true':
      case 'yes':
      case 'on':
      case '1':
        return true;
      case 'false':
      case 'no':
      case 'off':
      case '0':
        return false;
      default:
        throw badValue(key, v, '`true` or `false`');
    }
  }

  /** The value of `key` as a comma-separated list, items trimmed, empty ones dropped. */
  list(key) {
    const v = this.opt(key);
    if (v === undefined) return [];
    return v
      .split(',')
      .map((t) => t.trim())
      .filter((t) => t !== '');
  }

  /**
   * The value of `key` as a record type (`document`, `event`, `entity`, `claim`,
   * `metric`, lower case or capitalised), or `fallback` when it is not set. The result
   * is the WIT spelling (lower case).
   */
  recordType(key, fallback) {
    const v = this.opt(key);
    if (v === undefined) return fallback;
    const lower = v.toLowerCase();
    const capitalised = lower.charAt(0).toUpperCase() + lower.slice(1);
    if (RECORD_TYPES.includes(lower) && (v === lower || v === capitalised)) return lower;
    throw badValue(key, v, `one of ${RECORD_TYPES.join(', ')}`);
  }

  /** The value of `key` as an `http://` or `https://` URL without trailing `/`, or undefined. */
  httpUrl(key) {
    const v = this.opt(key);
    if (v === undefined) return undefined;
    if (!(v.startsWith('http://') || v.startsWith('https://'))) {
      throw badValue(key, v, 'an `http://` or `https://` URL');
    }
    return v.replace(/\/+$/, '');
  }
}

/** A lookup over `[key, value]` pairs (or an object), the last pair of a key winning. */
function pairsLookup(pairs) {
  const entries = Array.isArray(pairs) ? pairs : Object.entries(pairs);
  const map = new Map(entries.map(([k, v]) => [k, v === undefined || v === null ? v : String(v)]));
  return (key) => map.get(key);
}

/** Builds settings with `read` from fixed pairs, as a unit test does without the host. */
export function fromPairs(read, pairs) {
  return read(new ConfigReader(pairsLookup(pairs)));
}

/** The host's config lookup. */
function hostLookup(key) {
  return hostPart('config').get(key) ?? undefined;
}

/**
 * A cell holding the settings of this run, read with `read(cfg)` on the first `get()`
 * and kept: the host makes a fresh instance for every run, so a changed manifest is
 * seen by the next run. A failed read is kept too, so every call of the run reports
 * the same `invalid-config`.
 */
export function settings(read) {
  let done = false;
  let value;
  let error;
  return {
    get() {
      if (!done) {
        try {
          value = read(new ConfigReader(hostLookup));
        } catch (e) {
          error = e;
        }
        done = true;
      }
      if (error !== undefined) throw error;
      return value;
    },
    /** For unit tests: forget what was read, so that the next `get()` reads again. */
    reset() {
      done = false;
      value = undefined;
      error = undefined;
    },
  };
}
