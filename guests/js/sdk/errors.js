// The contract's `connector-error`, as JavaScript exceptions.
//
// A connector throws one of the classes below and the SDK hands the host the matching
// case of `connector-error`: `throw new NotFound("no record `x`")` becomes
// `not-found("no record `x`")`. Anything else thrown (a TypeError, a string, a bug)
// becomes `other` with its message, so that no exception ever traps the component.
// Errors the host returns from an import (`http.send` saying `denied`, say) arrive as
// the same classes, so a connector may catch them by class or let them pass through.

/** The longest message (in UTF-16 units) the SDK hands the host; the host cuts again. */
export const MAX_MESSAGE = 4096;

/** Every case of `connector-error`, by its WIT name. */
const TAGS = new Set([
  'auth',
  'rate-limited',
  'timeout',
  'network',
  'not-found',
  'api',
  'invalid-config',
  'parse',
  'quota',
  'circuit-open',
  'denied',
  'unsupported',
  'other',
]);

/** `text` cut to `max` UTF-16 units, saying how much was cut; never splits a surrogate pair. */
export function bounded(text, max = MAX_MESSAGE) {
  const s = typeof text === 'string' ? text : String(text);
  if (s.length <= max) return s;
  let end = max;
  const c = s.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end -= 1;
  return `${s.slice(0, end)}… (${s.length - end} more characters cut)`;
}

/** A whole number of milliseconds for a `u64`, or undefined when there is none. */
function millis(value) {
  if (value === undefined || value === null) return undefined;
  const n = typeof value === 'bigint' ? Number(value) : Number(value);
  if (!Number.isFinite(n)) return undefined;
  return Math.min(Math.max(0, Math.round(n)), Number.MAX_SAFE_INTEGER);
}

/**
 * The base class of every error the contract knows. `tag` is the WIT case; use the
 * subclasses rather than this constructor.
 */
export class ConnectorError extends Error {
  constructor(tag, message) {
    super(message === undefined || message === null ? '' : String(message));
    if (!TAGS.has(tag)) throw new TypeError(`\`${tag}\` is not a case of connector-error`);
    this.tag = tag;
    this.name = new.target.name;
  }

  /** The `connector-error` value the host receives: `{tag, val}`, message bounded. */
  toWit() {
    return { tag: this.tag, val: bounded(this.message) };
  }

  /**
   * The error for a `connector-error` value (`{tag, val}`, as an import throws it in
   * `err.payload`), or undefined when `payload` is not one.
   */
  static fromWit(payload) {
    if (payload === null || typeof payload !== 'object' || !TAGS.has(payload.tag)) return undefined;
    const { tag, val } = payload;
    switch (tag) {
      case 'rate-limited':
        return new RateLimited(val?.message ?? '', val?.retryAfterMs);
      case 'circuit-open':
        return new CircuitOpen(val?.message ?? '', val?.retryAfterMs);
      case 'api':
        return new Api(val?.status ?? 0, val?.message ?? '');
      default:
        return new (CLASSES[tag])(typeof val === 'string' ? val : val === undefined ? '' : String(val));
    }
  }
}

/** `auth`: authentication or authorisation failed. */
export class Auth extends ConnectorError {
  constructor(message) {
    super('auth', message);
  }
}

/** `rate-limited`: the source asks to wait; `retryAfterMs` when it said how long. */
export class RateLimited extends ConnectorError {
  constructor(message, retryAfterMs) {
    super('rate-limited', message);
    this.retryAfterMs = millis(retryAfterMs);
  }
  toWit() {
    return { tag: this.tag, val: { retryAfterMs: toU64(this.retryAfterMs), message: bounded(this.message) } };
  }
}

/** `timeout`: a request timed out. */
export class Timeout extends ConnectorError {
  constructor(message) {
    super('timeout', message);
  }
}

/** `network`: the network failed. */
export class Network extends ConnectorError {
  constructor(message) {
    super('network', message);
  }
}

/** `not-found`: the record or resource does not exist. */
export class NotFound extends ConnectorError {
  constructor(message) {
    super('not-found', message);
  }
}

/** `api`: the source returned an error status. */
export class Api extends ConnectorError {
  constructor(status, message) {
    super('api', message);
    const n = Number(status);
    this.status = Number.isInteger(n) && n >= 0 && n <= 65535 ? n : 0;
  }
  toWit() {
    return { tag: this.tag, val: { status: this.status, message: bounded(this.message) } };
  }
}

/** `invalid-config`: the configuration is missing or wrong. */
export class InvalidConfig extends ConnectorError {
  constructor(message) {
    super('invalid-config', message);
  }
}

/** `parse`: the source's data could not be parsed. */
export class Parse extends ConnectorError {
  constructor(message) {
    super('parse', message);
  }
}

/** `quota`: a quota of the source is used up. */
export class Quota extends ConnectorError {
  constructor(message) {
    super('quota', message);
  }
}

/** `circuit-open`: the host's breaker for the upstream is open (the host says so). */
export class CircuitOpen extends ConnectorError {
  constructor(message, retryAfterMs) {
    super('circuit-open', message);
    this.retryAfterMs = millis(retryAfterMs);
  }
  toWit() {
    return { tag: this.tag, val: { retryAfterMs: toU64(this.retryAfterMs), message: bounded(this.message) } };
  }
}

/** `denied`: the operator did not grant it (a host, a file). */
export class Denied extends ConnectorError {
  constructor(message) {
    super('denied', message);
  }
}

/** `unsupported`: the connector does not offer this operation. */
export class Unsupported extends ConnectorError {
  constructor(message) {
    super('unsupported', message);
  }
}

/** `other`: anything else. */
export class Other extends ConnectorError {
  constructor(message) {
    super('other', message);
  }
}

const CLASSES = {
  auth: Auth,
  timeout: Timeout,
  network: Network,
  'not-found': NotFound,
  'invalid-config': InvalidConfig,
  parse: Parse,
  quota: Quota,
  denied: Denied,
  unsupported: Unsupported,
  other: Other,
};

/** A `u64` for the bindings (a BigInt), or undefined. */
function toU64(ms) {
  return ms === undefined ? undefined : BigInt(ms);
}

/**
 * `e` as a ConnectorError: itself if it is one; the matching class if it is a
 * `connector-error` value (`{tag, val}`) or carries one in `payload` (what an import
 * throws); otherwise `other` with its message (and where it was thrown, when known).
 */
export function asConnectorError(e) {
  if (e instanceof ConnectorError) return e;
  if (e !== null && typeof e === 'object') {
    const fromPayload = Object.prototype.hasOwnProperty.call(e, 'payload') && ConnectorError.fromWit(e.payload);
    if (fromPayload) return fromPayload;
    const fromValue = ConnectorError.fromWit(e);
    if (fromValue) return fromValue;
  }
  return new Other(describe(e));
}

/** The `connector-error` value for anything thrown: never throws itself. */
export function toWitError(e) {
  try {
    return asConnectorError(e).toWit();
  } catch (inner) {
    // A getter that throws, a message whose toString throws: still a value, not a trap.
    return { tag: 'other', val: 'an exception that could not be described' };
  }
}

/** What an exception that is not a ConnectorError says: its message, its kind, where. */
export function describe(e) {
  if (e instanceof Error) {
    const kind = e.name && e.name !== 'Error' ? `${e.name}: ` : '';
    const message = e.message || '(no message)';
    const at = firstFrame(e.stack);
    return bounded(`${kind}${message}${at ? ` (at ${at})` : ''}`);
  }
  if (typeof e === 'string') return bounded(e);
  if (e === undefined || e === null) return `a thrown ${e}`;
  try {
    const json = JSON.stringify(e);
    if (json !== undefined) return bounded(`a thrown value: ${json}`);
  } catch {
    // A cycle or a BigInt: fall through to String().
  }
  return bounded(`a thrown value: ${String(e)}`);
}

/** The first frame of a stack trace (`fn@file.js:10:5` or `at fn (file.js:10:5)`), if any. */
function firstFrame(stack) {
  if (typeof stack !== 'string') return '';
  for (const line of stack.split('\n')) {
    const t = line.trim();
    if (t === '' || t.startsWith('Error') || /^[A-Za-z]*Error:/.test(t)) continue;
    return bounded(t.startsWith('at ') ? t.slice(3) : t, 200);
  }
  return '';
}

/**
 * `e` with `context` put before its message (`GET https://...: not found`), of the
 * same case; a message that already starts with `context` is left as it is.
 */
export function withContext(e, context) {
  const err = asConnectorError(e);
  if (err.message.startsWith(context)) return err;
  const message = `${context}: ${err.message}`;
  switch (err.tag) {
    case 'rate-limited':
      return new RateLimited(message, err.retryAfterMs);
    case 'circuit-open':
      return new CircuitOpen(message, err.retryAfterMs);
    case 'api':
      return new Api(err.status, message);
    default:
      return new (CLASSES[err.tag])(message);
  }
}
