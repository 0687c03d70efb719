// Paging helpers: the page size to use, offset cursors, paging over an array, finding
// one record by scanning the pages, and the `Link: <...>; rel="next"` header.
//
// A cursor is opaque to the host: whatever `nextCursor` a page returns comes back as
// the next request's `cursor` (also in a later run, from the store). A connector should
// refuse a cursor it did not issue with `invalid-config` (`badCursor`), not guess.

import { InvalidConfig } from './errors.js';

/**
 * The number of records to put in this page: the host's `limit` when it sent one,
 * else `pageSize`; never less than 1 nor more than `max`.
 */
export function pageLimit(req, { pageSize = 1000, max = 10000 } = {}) {
  const want = req?.limit ?? pageSize;
  return Math.min(Math.max(1, Math.floor(want)), max);
}

/** The error for a cursor this connector did not issue. */
export function badCursor(cursor, expected) {
  return new InvalidConfig(`cursor \`${cursor}\` was not issued by this connector (expected ${expected})`);
}

/** The cursor for item offset `n` of a listing: `o:<n>`. */
export function offsetCursor(n) {
  return `o:${n}`;
}

/** The item offset in a cursor made by `offsetCursor` (0 for no cursor). */
export function parseOffsetCursor(cursor) {
  if (cursor === undefined || cursor === null) return 0;
  const m = /^o:(\d{1,15})$/.exec(cursor);
  if (m === null) throw badCursor(cursor, '`o:<offset>`');
  return Number(m[1]);
}

/**
 * One page of `items` (an array the connector holds whole) for request `req`:
 * `{items, start, nextCursor}`, with offset cursors.
 */
export function pageOfArray(items, req, options) {
  const start = Math.min(parseOffsetCursor(req?.cursor), items.length);
  const end = Math.min(start + pageLimit(req, options), items.length);
  return { items: items.slice(start, end), start, nextCursor: end < items.length ? offsetCursor(end) : undefined };
}

/**
 * The record with id `id`, found by listing pages with `listRecords({cursor, limit})`
 * (as the connector defines it), or undefined when no page has it: a `getRecord` for
 * sources that cannot fetch one record directly.
 */
export function findRecord(listRecords, id, { limit = 10000, maxPages = 1_000_000 } = {}) {
  let cursor;
  for (let pages = 0; pages < maxPages; pages++) {
    const page = listRecords({ cursor, limit });
    const found = (page.records ?? []).find((r) => r.id === id);
    if (found !== undefined) return found;
    if (page.nextCursor === undefined || page.nextCursor === null) return undefined;
    cursor = page.nextCursor;
  }
  return undefined;
}

/**
 * The `rel="next"` target of a `Link` header value (RFC 8288), or undefined:
 * `<https://api.example.com/items?page=2>; rel="next", <...>; rel="last"`. The
 * relation may be quoted or not, in any case, or one of several (`rel="next last"`).
 */
export function linkNext(header) {
  if (typeof header !== 'string') return undefined;
  const re = /<([^>]*)>((?:\s*;\s*[^;,]+(?:=(?:"[^"]*"|[^;,]*))?)*)/g;
  for (let m = re.exec(header); m !== null; m = re.exec(header)) {
    const target = m[1].trim();
    const rel = /;\s*rel\s*=\s*(?:"([^"]*)"|([^;,\s]+))/i.exec(m[2]);
    const rels = rel ? (rel[1] ?? rel[2]).split(/\s+/).map((r) => r.toLowerCase()) : [];
    if (target !== '' && rels.includes('next')) return target;
  }
  return undefined;
}

/** `reference` resolved against the absolute URL `base` (a next link may be relative). */
export function resolveUrl(base, reference) {
  return new URL(reference, base).href;
}
