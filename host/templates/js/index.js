// The `{{name}}` connector: the items of a paged REST/JSON API.
//
// Each page is `GET {base_url}/items?page=N` (N from 1), answered with
//
//   {"items": [{"id": 1, "title": "...", "updated_at": "2026-01-01T00:00:00Z"}], "next": 2}
//
// where `next` is the next page's number, or null on the last page. Each item is one
// record; its `raw` is the item as the API sent it. One record is `GET
// {base_url}/items/{id}`.
//
// Every request goes through the host (`http` of the SDK): only to the origins the
// manifest allows, with the host's retries, and any credential added by the host (the
// connector never sees it). The host's failures arrive as typed errors (a 404
// `NotFound`, a 429 `RateLimited`, a 5xx `Api` with its status, an origin that is not
// allowed `Denied`) and are passed on as they are.
//
// Configuration (the manifest's `[config]`, declared in capabilities.toml):
//
// | key           | meaning                                     | default    |
// |---------------|---------------------------------------------|------------|
// | `base_url`    | the API, `http://` or `https://`            | required   |
// | `record_type` | document, event, entity, claim or metric    | `document` |
//
// The module's top level runs when the component is built (componentize-js snapshots
// it): call the host only inside the functions below.

import { defineConnector, settings, http, Parse, badCursor } from '{{kit}}/js/sdk/connector.js';

const SETTINGS = settings((cfg) => {
  const baseUrl = cfg.httpUrl('base_url') ?? cfg.required('base_url', 'the API to read, such as https://api.example.com');
  return {
    baseUrl,
    recordType: cfg.recordType('record_type', 'document'),
    // The envelopes' `source_instance`: the API's host (and port).
    sourceInstance: baseUrl.replace(/^https?:\/\//, '').replace(/\/.*$/, ''),
  };
});

const ACCEPT = { Accept: 'application/json' };

function itemUrl(s, id) {
  return `${s.baseUrl}/items/${encodeURIComponent(id)}`;
}

/** The page a cursor names: 1 without one, else the page number returned as `nextCursor`. */
export function pageOf(cursor) {
  if (cursor === undefined || cursor === null) return 1;
  if (!/^[1-9][0-9]{0,15}$/.test(cursor)) throw badCursor(cursor, 'a page number');
  return Number(cursor);
}

/** One item as a record, or the reason it cannot be one (a string). */
export function recordOf(s, item) {
  if (item === null || typeof item !== 'object' || Array.isArray(item)) return 'not a JSON object';
  const id = item.id;
  if (!((typeof id === 'string' && id !== '') || typeof id === 'number')) {
    return 'no `id` that is a non-empty string or a number';
  }
  return {
    id: String(id),
    raw: JSON.stringify(item),
    provenance: {
      uri: itemUrl(s, String(id)),
      lastModified: typeof item.updated_at === 'string' ? item.updated_at : undefined,
    },
  };
}

/** One page's parsed body (`url` names it in errors): its records, skipped items and next cursor. */
export function parsePage(s, url, body) {
  if (body === null || typeof body !== 'object' || !Array.isArray(body.items)) {
    throw new Parse(`GET ${url}: no \`items\` array`);
  }
  const next = body.next;
  if (next !== undefined && next !== null && !(Number.isSafeInteger(next) && next >= 1)) {
    throw new Parse(`GET ${url}: \`next\` is ${JSON.stringify(next)}, not a page number`);
  }
  const records = [];
  const skipped = [];
  body.items.forEach((item, i) => {
    const r = recordOf(s, item);
    if (typeof r === 'string') skipped.push({ locator: `item ${i + 1} of ${url}`, reason: r });
    else records.push(r);
  });
  return { records, nextCursor: next === undefined || next === null ? undefined : String(next), skipped };
}

export const source = defineConnector({
  sourceName: '{{name}}',

  // The API's pages have a size of their own: the host's `limit` is not sent.
  listRecords({ cursor }) {
    const s = SETTINGS.get();
    const url = `${s.baseUrl}/items?page=${pageOf(cursor)}`;
    return parsePage(s, url, http.get(url, { headers: ACCEPT }).json());
  },

  getRecord(id) {
    const s = SETTINGS.get();
    const url = itemUrl(s, id);
    const r = recordOf(s, http.get(url, { headers: ACCEPT }).json());
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
