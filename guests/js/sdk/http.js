// HTTP through the host: the only network a connector has.
//
//   const res = http.get(`${base}/items?limit=50`, { headers: { Accept: 'application/json' } });
//   const body = res.json();
//
// Every request goes through `partner:connector/http`, which applies the operator's
// egress policy: only the origins `[http] allow` lists, secrets injected by the host
// (a connector never sets `Authorization` for a host with a secret, and never sees
// the token), retries with backoff, `Retry-After`, a circuit breaker and a rate limit.
// The import is synchronous to the guest, so there is nothing to `await`.
//
// The host answers 1xx-3xx as a response and everything else as an error, which the
// SDK throws as the matching class: 401/403 `Auth`, 404 `NotFound`, 429 `RateLimited`
// (with `retryAfterMs`), other statuses `Api` (with `status`), and `Timeout`,
// `Network`, `CircuitOpen`, `Denied` (an origin the manifest does not allow). Their
// messages already name the request.

import { Parse, Other, asConnectorError } from './errors.js';
import { hostPart } from './host.js';

const METHODS = new Set(['get', 'head', 'post', 'put', 'patch', 'delete', 'options']);
const UTF8 = new TextEncoder();

/** What the host answered. */
export class Response {
  constructor(method, url, raw) {
    /** The method and URL of the request, for messages. */
    this.method = method;
    this.url = url;
    /** The HTTP status (1xx-3xx: the host turns the others into errors). */
    this.status = raw.status;
    /** Whether the status is 2xx. */
    this.ok = raw.status >= 200 && raw.status < 300;
    /** The headers as `[name, value]` pairs, names in lower case. */
    this.headers = raw.headers ?? [];
    /** The body, decompressed, as bytes. */
    this.body = raw.body instanceof Uint8Array ? raw.body : new Uint8Array(raw.body ?? []);
  }

  /** The value of the first header called `name` (any case), or undefined. */
  header(name) {
    const lower = String(name).toLowerCase();
    for (const [k, v] of this.headers) if (k.toLowerCase() === lower) return v;
    return undefined;
  }

  /** The body as text (UTF-8; malformed bytes become U+FFFD). */
  text() {
    return new TextDecoder().decode(this.body);
  }

  /** The body parsed as JSON; a body that is not JSON is a `parse` error naming the request. */
  json() {
    const text = this.text();
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new Parse(`${this.method.toUpperCase()} ${this.url}: the response body is not JSON (${e.message})`);
    }
  }
}

/** Request headers as `[name, value]` pairs, from pairs, a Map or a plain object. */
function headerPairs(headers) {
  if (headers === undefined || headers === null) return [];
  const entries = Array.isArray(headers)
    ? headers
    : headers instanceof Map
      ? [...headers.entries()]
      : Object.entries(headers);
  return entries.map(([k, v]) => [String(k), String(v)]);
}

/** The body as bytes: a string (UTF-8), bytes, an ArrayBuffer, or undefined. */
function bodyBytes(body) {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return UTF8.encode(body);
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  throw new Other(`an HTTP body must be a string or bytes, not ${typeof body}`);
}

/**
 * Sends one request through the host and returns its Response; the host's refusals
 * and error statuses are thrown as ConnectorErrors.
 *
 * `options`: `headers` (an object, a Map or `[name, value]` pairs), `body` (a string
 * or bytes), `json` (a value sent as a JSON body, with `Content-Type:
 * application/json` unless a header sets it), `timeoutMs` (shortens the operator's
 * timeout, never lengthens it).
 */
export function request(method, url, options = {}) {
  const m = String(method).toLowerCase();
  if (!METHODS.has(m)) throw new Other(`\`${method}\` is not an HTTP method the host sends`);
  const headers = headerPairs(options.headers);
  let body = bodyBytes(options.body);
  if (options.json !== undefined) {
    body = UTF8.encode(JSON.stringify(options.json));
    if (!headers.some(([k]) => k.toLowerCase() === 'content-type')) headers.push(['Content-Type', 'application/json']);
  }
  let timeoutMs;
  if (options.timeoutMs !== undefined && options.timeoutMs !== null) {
    const t = Math.round(Number(options.timeoutMs));
    if (!Number.isFinite(t) || t < 0) throw new Other(`timeoutMs must be a number of milliseconds, not ${options.timeoutMs}`);
    timeoutMs = Math.min(t, 0xffffffff);
  }
  const target = String(url);
  let raw;
  try {
    raw = hostPart('http').send({ method: m, url: target, headers, body, timeoutMs });
  } catch (e) {
    throw asConnectorError(e);
  }
  return new Response(m, target, raw);
}

/** `http.get(url, options)`, `http.post(url, options)`, ...: see `request`. */
export const http = {
  request,
  get: (url, options) => request('get', url, options),
  head: (url, options) => request('head', url, options),
  post: (url, options) => request('post', url, options),
  put: (url, options) => request('put', url, options),
  patch: (url, options) => request('patch', url, options),
  delete: (url, options) => request('delete', url, options),
  options: (url, options) => request('options', url, options),
};
