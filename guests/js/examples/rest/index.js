// A small REST/JSON connector in JavaScript: one paged list endpoint, read through
// the host's HTTP egress. A sketch of what guests/http-json does in full.
//
// Each page is `GET {base_url}{path}?limit={n}[&cursor={c}]`, answered with
//
//   {"items": [{"id": "a1", ...}, ...], "next_cursor": "opaque" | null}
//
// Each item becomes one record (`raw` is the item). The connector never sees a
// credential: the manifest's `[[http.secrets]]` has the host add `Authorization:
// Bearer ...` to requests for the API's host. The host's answers for failures arrive
// as typed errors and are passed on as they are: 401/403 `auth`, 404 `not-found`,
// 429 `rate-limited` (with the wait), 5xx `api` with the status (after the host's
// retries), an origin the manifest does not allow `denied`.
//
// Configuration (`[config]`):
//
// | key                   | meaning                                            | default                 |
// |-----------------------|----------------------------------------------------|-------------------------|
// | `base_url`            | the API's origin (and base path), http(s)          | required                |
// | `path`                | the list endpoint; `{path}/{id}` is one record     | `/items`                |
// | `page_size`           | items per page when the host does not say          | 100                     |
// | `id_field`            | the item field holding its id (string or number)   | `id`                    |
// | `record_type`         | document, event, entity, claim or metric           | `document`              |
// | `source_instance`     | the envelope's `source_instance`                   | base_url's host + path  |
// | `last_modified_field` | the item field copied to `provenance.last_modified`| `updated_at`            |
// | `timeout_ms`          | a shorter timeout for each request                 | the operator's          |
// | `debug_throw`         | for the kit's own tests: list-records throws an    | not set                 |
// |                       | uncaught Error with this message                   |                         |

import { defineConnector, settings, http, log, Parse, pageLimit } from '../../sdk/connector.js';

const SETTINGS = settings((cfg) => {
  const baseUrl = cfg.httpUrl('base_url') ?? cfg.required('base_url', 'the API to read, such as https://api.example.com');
  const path = cfg.optOr('path', '/items');
  const host = baseUrl.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  return {
    baseUrl,
    path: path.startsWith('/') ? path : `/${path}`,
    pageSize: cfg.positiveInt('page_size') ?? 100,
    idField: cfg.optOr('id_field', 'id'),
    recordType: cfg.recordType('record_type', 'document'),
    sourceInstance: cfg.opt('source_instance') ?? `${host}${path}`,
    lastModifiedField: cfg.optOr('last_modified_field', 'updated_at'),
    timeoutMs: cfg.positiveInt('timeout_ms'),
    debugThrow: cfg.opt('debug_throw'),
  };
});

const ACCEPT = { Accept: 'application/json' };

/** An item as a record, or the reason it cannot be one. */
function record(s, item) {
  if (item === null || typeof item !== 'object' || Array.isArray(item)) return 'not a JSON object';
  const id = item[s.idField];
  if (!((typeof id === 'string' && id !== '') || typeof id === 'number')) {
    return `no \`${s.idField}\` field with a non-empty string or number`;
  }
  const modified = item[s.lastModifiedField];
  return {
    id: String(id),
    raw: JSON.stringify(item),
    provenance: {
      uri: `${s.baseUrl}${s.path}/${encodeURIComponent(String(id))}`,
      lastModified: typeof modified === 'string' ? modified : undefined,
    },
  };
}

function listRecords({ cursor, limit }) {
  const s = SETTINGS.get();
  if (s.debugThrow !== undefined) throw new Error(s.debugThrow);
  const query = new URLSearchParams({ limit: String(pageLimit({ limit }, { pageSize: s.pageSize, max: 1000 })) });
  if (cursor !== undefined) query.set('cursor', cursor);
  const url = `${s.baseUrl}${s.path}?${query}`;
  const body = http.get(url, { headers: ACCEPT, timeoutMs: s.timeoutMs }).json();
  if (body === null || typeof body !== 'object' || !Array.isArray(body.items)) {
    throw new Parse(`GET ${url}: expected an object with an \`items\` array`);
  }
  const records = [];
  const skipped = [];
  body.items.forEach((item, i) => {
    const r = record(s, item);
    if (typeof r === 'string') skipped.push({ locator: `item ${i + 1} of ${url}`, reason: r });
    else records.push(r);
  });
  const next = body.next_cursor;
  if (next !== undefined && next !== null && typeof next !== 'string') {
    throw new Parse(`GET ${url}: \`next_cursor\` is not a string`);
  }
  // An empty page that names a next cursor would have the host page forever.
  if (records.length === 0 && skipped.length === 0 && next) log.warn(`GET ${url}: an empty page with a next cursor`);
  return { records, nextCursor: next || undefined, skipped };
}

export const source = defineConnector({
  sourceName: 'rest-js',

  listRecords,

  getRecord(id) {
    const s = SETTINGS.get();
    const url = `${s.baseUrl}${s.path}/${encodeURIComponent(id)}`;
    const r = record(s, http.get(url, { headers: ACCEPT, timeoutMs: s.timeoutMs }).json());
    if (typeof r === 'string') throw new Parse(`GET ${url}: ${r}`);
    return r;
  },

  toEnvelopes(records) {
    const s = SETTINGS.get();
    return records.map((r) => ({
      recordId: r.id,
      recordType: s.recordType,
      sourceInstance: s.sourceInstance,
      provenance: r.provenance,
      aclTags: [],
      raw: r.raw,
    }));
  },
});

/** For unit tests: forget the settings read so far. */
export function resetSettings() {
  SETTINGS.reset();
}
