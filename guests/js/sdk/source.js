// The `source` export of `partner:connector`, made from a connector definition.
//
//   export const source = defineConnector({
//     sourceName: 'lines',                        // or a function returning it
//     listRecords({ cursor, limit }) { return { records, nextCursor, skipped }; },
//     getRecord(id) { ... },                      // optional: `unsupported` without it
//     toEnvelopes(records) { return records.map(...); },
//   });
//
// The SDK derives `list-drafts` (one crossing per page: what the host's ingest calls)
// from `listRecords` and `toEnvelopes`. Every export returns the contract's `result`
// itself, so nothing a connector throws reaches the bindings: a ConnectorError becomes
// its case, anything else `other` with its message. What a connector returns is
// checked before the bindings see it (a missing `raw`, a record type that is no
// case), because a value the bindings cannot lower would trap the component; a
// malformed value is an `other` error naming the field instead.
//
// The connector's functions may be `async` (componentize-js runs the event loop until
// an export's promise settles); the SDK stays synchronous when they are not.

import { Other, Unsupported, describe, bounded, toWitError } from './errors.js';

const RECORD_TYPES = new Set(['document', 'event', 'entity', 'claim', 'metric']);

/** Whether `v` is a promise (or any thenable). */
function isThenable(v) {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof v.then === 'function';
}

/** `f(v)`, or `v.then(f)` when `v` is a promise. */
function then(v, f) {
  return isThenable(v) ? v.then(f) : f(v);
}

/** The contract's result of `run()`: `{tag: 'ok', val}` or `{tag: 'err', val: connector-error}`. */
function guard(run) {
  let v;
  try {
    v = run();
  } catch (e) {
    return { tag: 'err', val: toWitError(e) };
  }
  if (isThenable(v)) {
    return v.then(
      (val) => ({ tag: 'ok', val }),
      (e) => ({ tag: 'err', val: toWitError(e) }),
    );
  }
  return { tag: 'ok', val: v };
}

/** A connector-contract `source` export from `def`; see the top of this file. */
export function defineConnector(def) {
  if (def === null || typeof def !== 'object') throw new TypeError('defineConnector needs an object');
  for (const name of ['listRecords', 'toEnvelopes']) {
    if (typeof def[name] !== 'function') throw new TypeError(`defineConnector: \`${name}\` must be a function`);
  }
  if (typeof def.sourceName !== 'string' && typeof def.sourceName !== 'function') {
    throw new TypeError('defineConnector: `sourceName` must be a string or a function');
  }
  if (def.getRecord !== undefined && typeof def.getRecord !== 'function') {
    throw new TypeError('defineConnector: `getRecord` must be a function when given');
  }
  const name = () => (typeof def.sourceName === 'function' ? def.sourceName() : def.sourceName);

  const listRecords = (req) => then(def.listRecords(request(req)), (p) => page(p, 'listRecords'));
  const toEnvelopes = (records) =>
    then(def.toEnvelopes(records), (drafts) => draftList(drafts, records.length, 'toEnvelopes'));

  return {
    sourceName() {
      // `source-name` has no error case: a failure becomes a name the host refuses
      // with this text in its message, rather than a trap.
      try {
        const n = name();
        return typeof n === 'string' ? n : `<sourceName returned ${typeof n}, not a string>`;
      } catch (e) {
        return bounded(`<sourceName threw: ${describe(e)}>`, 512);
      }
    },

    listRecords(req) {
      return guard(() => listRecords(req));
    },

    getRecord(id) {
      return guard(() => {
        if (def.getRecord === undefined) {
          throw new Unsupported(`connector \`${name()}\` does not offer get-record`);
        }
        return then(def.getRecord(id), (r) => record(r, 'getRecord'));
      });
    },

    toEnvelopes(records) {
      return guard(() => toEnvelopes(records));
    },

    listDrafts(req) {
      return guard(() =>
        then(listRecords(req), (p) =>
          then(toEnvelopes(p.records), (drafts) => ({ drafts, nextCursor: p.nextCursor, skipped: p.skipped })),
        ),
      );
    },
  };
}

/** The page request as the connector sees it: `{cursor, limit}`, each possibly undefined. */
function request(req) {
  return { cursor: req?.cursor ?? undefined, limit: req?.limit ?? undefined };
}

/** Throws `other` naming `where` and what is wrong. */
function wrong(where, what) {
  throw new Other(`${where}: ${what}`);
}

function kind(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `${typeof v} \`${bounded(String(v), 80)}\``;
}

/** An `option<string>`: undefined for none. */
function optString(v, where) {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return wrong(where, `is ${kind(v)}; expected a string or nothing`);
}

/** JSON text for `raw`/`metadata`: a string as it is, any other JSON value serialised. */
function jsonText(v, where) {
  if (typeof v === 'string') return v;
  if (v === undefined) return wrong(where, 'is missing; expected JSON text or a JSON value');
  let text;
  try {
    text = JSON.stringify(v);
  } catch (e) {
    return wrong(where, `cannot be serialised as JSON (${describe(e)})`);
  }
  return text === undefined ? wrong(where, `is ${kind(v)}; expected JSON text or a JSON value`) : text;
}

/** An id: a non-empty string, or a finite number written as text. */
function id(v, where) {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return wrong(where, `is ${kind(v)}; expected a string`);
}

function provenance(p, where) {
  if (p === null || typeof p !== 'object') return wrong(`${where}.provenance`, `is ${kind(p)}; expected {uri, ...}`);
  if (typeof p.uri !== 'string') return wrong(`${where}.provenance.uri`, `is ${kind(p.uri)}; expected a string`);
  return {
    uri: p.uri,
    etag: optString(p.etag, `${where}.provenance.etag`),
    lastModified: optString(p.lastModified, `${where}.provenance.lastModified`),
    author: optString(p.author, `${where}.provenance.author`),
  };
}

/** A source record, checked (and the same object when it needs no conversion). */
function record(r, where) {
  if (r === null || typeof r !== 'object') return wrong(where, `is ${kind(r)}; expected a record {id, raw, provenance}`);
  const p = r.provenance;
  if (
    typeof r.id === 'string' &&
    typeof r.raw === 'string' &&
    p !== null &&
    typeof p === 'object' &&
    typeof p.uri === 'string' &&
    (p.etag === undefined || typeof p.etag === 'string') &&
    (p.lastModified === undefined || typeof p.lastModified === 'string') &&
    (p.author === undefined || typeof p.author === 'string')
  ) {
    return r;
  }
  return {
    id: id(r.id, `${where}.id`),
    raw: jsonText(r.raw, `${where}.raw`),
    provenance: provenance(r.provenance, where),
  };
}

function list(v, where) {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) return wrong(where, `is ${kind(v)}; expected an array`);
  return v;
}

function page(p, where) {
  if (p === null || typeof p !== 'object') {
    return wrong(where, `returned ${kind(p)}; expected {records, nextCursor, skipped}`);
  }
  const records = list(p.records, `${where}: records`);
  for (let i = 0; i < records.length; i++) records[i] = record(records[i], `${where}: records[${i}]`);
  const skipped = list(p.skipped, `${where}: skipped`);
  for (let i = 0; i < skipped.length; i++) {
    const s = skipped[i];
    if (s === null || typeof s !== 'object') wrong(`${where}: skipped[${i}]`, `is ${kind(s)}; expected {locator, reason}`);
    if (typeof s.locator !== 'string' || typeof s.reason !== 'string') {
      skipped[i] = { locator: String(s.locator ?? ''), reason: String(s.reason ?? '') };
    }
  }
  return { records, nextCursor: optString(p.nextCursor, `${where}: nextCursor`), skipped };
}

/** Whether `p` is a provenance the bindings can lower as it is. */
function provenanceReady(p) {
  return (
    p !== null &&
    typeof p === 'object' &&
    typeof p.uri === 'string' &&
    (p.etag === undefined || typeof p.etag === 'string') &&
    (p.lastModified === undefined || typeof p.lastModified === 'string') &&
    (p.author === undefined || typeof p.author === 'string')
  );
}

/** Whether `d` is a draft the bindings can lower as it is (what connectors usually return). */
function draftReady(d) {
  if (
    typeof d.recordId !== 'string' ||
    !RECORD_TYPES.has(d.recordType) ||
    typeof d.sourceInstance !== 'string' ||
    typeof d.raw !== 'string' ||
    !(d.metadata === undefined ? 'metadata' in d : typeof d.metadata === 'string') ||
    !Array.isArray(d.aclTags) ||
    !provenanceReady(d.provenance)
  ) {
    return false;
  }
  const tags = d.aclTags;
  for (let i = 0; i < tags.length; i++) if (typeof tags[i] !== 'string') return false;
  return true;
}

/** An envelope draft, checked (and the same object when it needs no conversion). */
function draft(d, where) {
  if (d === null || typeof d !== 'object') return wrong(where, `is ${kind(d)}; expected an envelope draft`);
  if (draftReady(d)) return d;
  let recordType = d.recordType;
  if (!RECORD_TYPES.has(recordType)) {
    const lower = typeof recordType === 'string' ? recordType.toLowerCase() : recordType;
    if (!RECORD_TYPES.has(lower)) {
      return wrong(`${where}.recordType`, `is ${kind(recordType)}; expected one of ${[...RECORD_TYPES].join(', ')}`);
    }
    recordType = lower;
  }
  if (typeof d.sourceInstance !== 'string') {
    return wrong(`${where}.sourceInstance`, `is ${kind(d.sourceInstance)}; expected a string`);
  }
  const aclTags = list(d.aclTags, `${where}.aclTags`);
  for (let i = 0; i < aclTags.length; i++) {
    if (typeof aclTags[i] !== 'string') wrong(`${where}.aclTags[${i}]`, `is ${kind(aclTags[i])}; expected a string`);
  }
  const metadata = d.metadata === undefined || d.metadata === null ? undefined : jsonText(d.metadata, `${where}.metadata`);
  const p = d.provenance;
  const provenanceOk = provenanceReady(p);
  return {
    recordId: id(d.recordId, `${where}.recordId`),
    recordType,
    sourceInstance: d.sourceInstance,
    provenance: provenanceOk ? p : provenance(p, where),
    aclTags,
    raw: typeof d.raw === 'string' ? d.raw : jsonText(d.raw, `${where}.raw`),
    metadata,
  };
}

function draftList(drafts, expected, where) {
  if (!Array.isArray(drafts)) return wrong(where, `returned ${kind(drafts)}; expected an array of drafts`);
  if (drafts.length !== expected) {
    return wrong(where, `returned ${drafts.length} drafts for ${expected} records; expected one draft per record`);
  }
  const out = new Array(drafts.length);
  for (let i = 0; i < drafts.length; i++) out[i] = draft(drafts[i], `${where}: drafts[${i}]`);
  return out;
}
