// The JSONL partner-feed connector, in JavaScript: the same feed, configuration,
// cursors and envelopes as the Rust file connector (guests/file), so that either can
// read a feed and a test can compare them.
//
// Reads one JSON object per line from a file in a directory the operator granted.
// Each object becomes one record whose `raw` is the line's text (trimmed), passed
// through untouched: the host canonicalises and hashes it.
//
// Configuration (the manifest's `[config]`; an empty value counts as not set):
//
// | key                   | meaning                                           | default         |
// |-----------------------|---------------------------------------------------|-----------------|
// | `path`                | the feed file, as the guest sees it               | required        |
// | `format`              | `jsonl` (or `ndjson`); JSON arrays are not read   | `jsonl`         |
// | `id_field`            | the field holding each record's id (string/number)| `id`            |
// | `record_type`         | document, event, entity, claim or metric          | `claim`         |
// | `source_instance`     | the envelope's `source_instance`                  | the file's name |
// | `last_modified_field` | the field copied to `provenance.last_modified`    | none            |
// | `author_field`        | the field copied to `provenance.author`           | none            |
// | `acl_tags`            | comma-separated tags put on every record          | none            |
// | `page_size`           | records per page when the host does not say       | 1000            |
//
// A line that is not UTF-8, not a JSON object, or has no id is reported as a skipped
// record (`line 17`) and the page goes on. The cursor is `v1:<byte offset>:<line>`,
// as the Rust connector's, so a page starts with a seek instead of a re-read.
//
// Known difference from the Rust connector: a numeric id is written as JavaScript
// writes the number (`1e+21`, and integers beyond 2^53 lose precision), where Rust
// keeps integers exact; string ids are the same.

import {
  defineConnector,
  settings,
  badValue,
  badCursor,
  files,
  pageLimit,
  findRecord,
  NotFound,
} from '../../sdk/connector.js';

/** The most records one page may hold, whatever the host asks for. */
const MAX_PAGE = 10000;

const SETTINGS = settings((cfg) => {
  const path = cfg.required('path', 'the feed file to read');
  const format = cfg.opt('format');
  if (format !== undefined && format !== 'jsonl' && format !== 'ndjson') {
    throw badValue('format', format, '`jsonl` (this connector reads JSON Lines only)');
  }
  return {
    path,
    idField: cfg.optOr('id_field', 'id'),
    recordType: cfg.recordType('record_type', 'claim'),
    sourceInstance: cfg.opt('source_instance') ?? path.slice(path.lastIndexOf('/') + 1),
    lastModifiedField: cfg.opt('last_modified_field'),
    authorField: cfg.opt('author_field'),
    aclTags: cfg.list('acl_tags'),
    pageSize: cfg.positiveInt('page_size') ?? 1000,
  };
});

/** A position in the feed: the byte offset of the next line and its 1-based number. */
function parseCursor(cursor) {
  if (cursor === undefined) return { offset: 0, line: 1 };
  const m = /^v1:(\d+):(\d+)$/.exec(cursor);
  if (m === null || Number(m[2]) < 1) throw badCursor(cursor, '`v1:<offset>:<line>`');
  return { offset: Number(m[1]), line: Number(m[2]) };
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

// What Rust's `str::trim` removes (Unicode White_Space), which differs from
// JavaScript's `trim` (that also removes U+FEFF and keeps U+0085).
const EDGES = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g;

function trim(text) {
  const first = text.charCodeAt(0);
  const last = text.charCodeAt(text.length - 1);
  // Most lines start with `{` and end with `}`: no regular expression for them.
  if (first > 0x20 && first < 0x7f && last > 0x20 && last < 0x7f) return text;
  return text.replace(EDGES, '');
}

/** A string or a number as text; anything else (null, booleans, objects) as absent. */
function scalar(v) {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  return undefined;
}

/** An id made of these needs no percent-encoding (most do not). */
const UNRESERVED = /^[A-Za-z0-9._~-]*$/;

/** Percent-encodes an id for a URI fragment: all but `A-Z a-z 0-9 - . _ ~`. */
function fragment(id) {
  if (UNRESERVED.test(id)) return id;
  return encodeURIComponent(id).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function typeName(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'sequence';
  if (typeof v === 'number') return Number.isInteger(v) ? `integer \`${v}\`` : `floating point \`${v}\``;
  if (typeof v === 'string') return `string ${JSON.stringify(v)}`;
  return typeof v === 'boolean' ? `boolean \`${v}\`` : typeof v;
}

/** One line as a record; undefined for a blank line; a string is the reason to skip it. */
function record(s, text) {
  const t = trim(text);
  if (t === '') return undefined;
  let value;
  try {
    value = JSON.parse(t);
  } catch (e) {
    return `not a JSON object: ${String(e.message).replace(' at line 1 column ', ' at column ')}`;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return `not a JSON object: invalid type: ${typeName(value)}, expected a JSON object`;
  }
  const id = scalar(value[s.idField]);
  if (id === undefined || id === '') return `no \`${s.idField}\` field with a non-empty string or number`;
  return {
    id,
    raw: t,
    provenance: {
      uri: `file://${s.path}#${fragment(id)}`,
      etag: undefined,
      lastModified: s.lastModifiedField === undefined ? undefined : scalar(value[s.lastModifiedField]),
      author: s.authorField === undefined ? undefined : scalar(value[s.authorField]),
    },
  };
}

function listRecords({ cursor, limit }) {
  const s = SETTINGS.get();
  const max = pageLimit({ limit }, { pageSize: s.pageSize, max: MAX_PAGE });
  const pos = parseCursor(cursor);
  const lines = files.lines(s.path, { offset: pos.offset });
  try {
    const records = [];
    const skipped = [];
    let line = pos.line;
    let offset = pos.offset;
    // Skipped lines count toward the page too, so that a file of nothing but broken
    // lines still comes back in bounded pages.
    while (records.length + skipped.length < max) {
      const l = lines.next();
      if (l === null) return { records, nextCursor: undefined, skipped };
      const number = line;
      line += 1;
      offset = l.end;
      let text;
      try {
        text = UTF8.decode(l.bytes);
      } catch {
        skipped.push({ locator: `line ${number}`, reason: 'not UTF-8' });
        continue;
      }
      const r = record(s, text);
      if (typeof r === 'string') skipped.push({ locator: `line ${number}`, reason: r });
      else if (r !== undefined) records.push(r);
    }
    return { records, nextCursor: lines.hasMore() ? `v1:${offset}:${line}` : undefined, skipped };
  } finally {
    lines.close();
  }
}

export const source = defineConnector({
  sourceName: 'file',

  listRecords,

  getRecord(id) {
    const s = SETTINGS.get();
    const found = findRecord(listRecords, id, { limit: MAX_PAGE });
    if (found === undefined) throw new NotFound(`no record with id \`${id}\` in ${s.path}`);
    return found;
  },

  toEnvelopes(records) {
    const s = SETTINGS.get();
    return records.map((r) => ({
      recordId: r.id,
      recordType: s.recordType,
      sourceInstance: s.sourceInstance,
      provenance: r.provenance,
      aclTags: s.aclTags,
      raw: r.raw,
      metadata: undefined,
    }));
  },
});

/** For unit tests: forget the settings read so far. */
export function resetSettings() {
  SETTINGS.reset();
}
