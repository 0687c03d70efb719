// The two example connectors under Node with a fake host: the file connector on the
// sample feed (what the Rust file connector gives for it, record by record) and the
// REST connector against a scripted API.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import * as fileExample from '../examples/file/index.js';
import * as restExample from '../examples/rest/index.js';
import { FakeComponentError, fakeHost, jsonResponse } from './fake-host.js';

const FEED = readFileSync(new URL('../../../examples/feeds/factchecks.jsonl', import.meta.url));
const FILE_CONFIG = {
  path: '/feeds/factchecks.jsonl',
  id_field: 'id',
  record_type: 'claim',
  source_instance: 'factcheck.example.org',
  last_modified_field: 'updated_at',
  author_field: 'author',
};

function fileHost(config = FILE_CONFIG, files = { '/feeds/factchecks.jsonl': FEED }) {
  const seen = fakeHost({ config, dirs: ['/feeds'], files, maxChunk: 4096 });
  fileExample.resetSettings();
  return seen;
}

function ok(result) {
  assert.equal(result.tag, 'ok', JSON.stringify(result.val));
  return result.val;
}

test('file: the sample feed gives 35 drafts and reports line 17', () => {
  const seen = fileHost();
  const page = ok(fileExample.source.listDrafts({ cursor: undefined, limit: undefined }));
  assert.equal(page.drafts.length, 35);
  assert.equal(page.nextCursor, undefined);
  assert.equal(page.skipped.length, 1);
  assert.equal(page.skipped[0].locator, 'line 17');
  assert.match(page.skipped[0].reason, /^not a JSON object: /);
  const ids = new Set();
  for (const d of page.drafts) {
    const raw = JSON.parse(d.raw);
    assert.equal(d.recordId, raw.id);
    assert.equal(d.recordType, 'claim');
    assert.equal(d.sourceInstance, 'factcheck.example.org');
    assert.equal(d.provenance.uri, `file:///feeds/factchecks.jsonl#${d.recordId}`);
    assert.equal(d.provenance.lastModified, raw.updated_at);
    assert.equal(d.provenance.author, raw.author);
    assert.equal(d.provenance.etag, undefined);
    assert.deepEqual(d.aclTags, []);
    assert.equal(d.raw, d.raw.trim());
    assert.ok(!ids.has(d.recordId));
    ids.add(d.recordId);
  }
  assert.ok(page.drafts.some((d) => d.raw.includes('ü')), 'non-ASCII text came through');
  assert.equal(seen.fs.open, 0, 'the file and its stream were dropped');
});

test('file: paging with a limit and the cursor gives the full run once', () => {
  fileHost();
  const full = ok(fileExample.source.listDrafts({})).drafts.map((d) => d.recordId);
  const paged = [];
  let cursor;
  let pages = 0;
  do {
    const page = ok(fileExample.source.listDrafts({ cursor, limit: 4 }));
    paged.push(...page.drafts.map((d) => d.recordId));
    assert.ok(page.drafts.length + page.skipped.length <= 4);
    if (page.nextCursor !== undefined) assert.match(page.nextCursor, /^v1:\d+:\d+$/);
    cursor = page.nextCursor;
    pages += 1;
  } while (cursor !== undefined && pages < 50);
  assert.deepEqual(paged, full);
  assert.equal(pages, 9);
  assert.deepEqual(ok(fileExample.source.listDrafts({ cursor: 'v1:0:1', limit: 1 })).drafts[0].recordId, full[0]);
});

test('file: get-record finds one record or says not-found as the Rust connector does', () => {
  fileHost();
  assert.equal(ok(fileExample.source.getRecord('fc-2026-0005')).id, 'fc-2026-0005');
  assert.deepEqual(fileExample.source.getRecord('fc-missing'), {
    tag: 'err',
    val: { tag: 'not-found', val: 'no record with id `fc-missing` in /feeds/factchecks.jsonl' },
  });
});

test('file: lines that are no records are skipped with the Rust reasons', () => {
  const lines = [
    '{"id": "a"}',
    '',
    '   ',
    '[1, 2]',
    '{"name": "no id"}',
    '{"id": ""}',
    '{"id": 42, "author": 7, "updated_at": null}',
    '{"id": true}',
    '\ufeff{"id": "bom"}',
    '  {"id": "spaced"}  \r',
  ];
  const bytes = [...new TextEncoder().encode(lines.join('\n') + '\n'), 0xff, 0xfe, 10, ...new TextEncoder().encode('{"id": "z"}')];
  fileHost({ path: '/feeds/t.jsonl', author_field: 'author' }, { '/feeds/t.jsonl': new Uint8Array(bytes) });
  const page = ok(fileExample.source.listDrafts({}));
  assert.deepEqual(page.drafts.map((d) => d.recordId), ['a', '42', 'spaced', 'z']);
  assert.equal(page.drafts[1].provenance.author, '7');
  assert.equal(page.drafts[1].provenance.lastModified, undefined, 'no last_modified_field configured');
  assert.equal(page.drafts[2].raw, '{"id": "spaced"}');
  assert.equal(page.drafts[0].sourceInstance, 't.jsonl', 'the file name by default');
  assert.equal(page.drafts[0].recordType, 'claim');
  assert.deepEqual(page.skipped, [
    { locator: 'line 4', reason: 'not a JSON object: invalid type: sequence, expected a JSON object' },
    { locator: 'line 5', reason: 'no `id` field with a non-empty string or number' },
    { locator: 'line 6', reason: 'no `id` field with a non-empty string or number' },
    { locator: 'line 8', reason: 'no `id` field with a non-empty string or number' },
    { locator: 'line 9', reason: page.skipped[4].reason },
    { locator: 'line 11', reason: 'not UTF-8' },
  ]);
  assert.match(page.skipped[4].reason, /^not a JSON object: /, 'a BOM is not whitespace, as in Rust');
  // Skipped lines count toward the limit too.
  assert.equal(ok(fileExample.source.listDrafts({ limit: 3 })).nextCursor, 'v1:42:6');
});

test('file: configuration errors name the key', () => {
  const cases = [
    [{}, 'config `path` is required: the feed file to read'],
    [{ path: '/feeds/x.json', format: 'json' }, 'config `format` is `json`; expected `jsonl` (this connector reads JSON Lines only)'],
    [{ path: '/feeds/x.jsonl', record_type: 'issue' }, 'config `record_type` is `issue`; expected one of document, event, entity, claim, metric'],
    [{ path: '/feeds/x.jsonl', page_size: '0' }, 'config `page_size` is `0`; expected a positive whole number'],
  ];
  for (const [config, message] of cases) {
    fileHost(config);
    assert.deepEqual(fileExample.source.listDrafts({}), { tag: 'err', val: { tag: 'invalid-config', val: message } });
  }
  fileHost();
  assert.deepEqual(fileExample.source.listDrafts({ cursor: 'page=2' }), {
    tag: 'err',
    val: { tag: 'invalid-config', val: 'cursor `page=2` was not issued by this connector (expected `v1:<offset>:<line>`)' },
  });
  fileHost({ path: '/elsewhere/x.jsonl' });
  assert.deepEqual(fileExample.source.listDrafts({}), {
    tag: 'err',
    val: { tag: 'denied', val: 'cannot open /elsewhere/x.jsonl: it is in no granted directory (granted: /feeds)' },
  });
});

const REST_CONFIG = { base_url: 'http://127.0.0.1:8089/', page_size: '2' };

function restHost(config, handler) {
  const seen = fakeHost({ config, http: handler });
  restExample.resetSettings();
  return seen;
}

/** A scripted API of five items, two of them without a usable id. */
function api(req) {
  const url = new URL(req.url);
  const items = [{ id: 'i1', updated_at: '2026-01-01T00:00:00Z' }, { id: 2 }, { name: 'no id' }, { id: 'i4' }, 'not an object'];
  if (url.pathname.startsWith('/items/')) {
    const item = items.find((i) => i?.id !== undefined && String(i.id) === decodeURIComponent(url.pathname.slice(7)));
    if (item === undefined) throw new FakeComponentError({ tag: 'not-found', val: `GET ${req.url}: 404 Not Found` });
    return jsonResponse(item);
  }
  const start = Number(url.searchParams.get('cursor') ?? 0);
  const limit = Number(url.searchParams.get('limit'));
  const next = start + limit < items.length ? String(start + limit) : null;
  return jsonResponse({ items: items.slice(start, start + limit), next_cursor: next });
}

test('rest: pages follow next_cursor, items become records, bad items are skipped', () => {
  const seen = restHost(REST_CONFIG, api);
  const ids = [];
  const skipped = [];
  let cursor;
  do {
    const page = ok(restExample.source.listDrafts({ cursor }));
    ids.push(...page.drafts.map((d) => d.recordId));
    skipped.push(...page.skipped);
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  assert.deepEqual(ids, ['i1', '2', 'i4']);
  assert.deepEqual(skipped.map((s) => s.reason), ['no `id` field with a non-empty string or number', 'not a JSON object']);
  assert.equal(skipped[0].locator, 'item 1 of http://127.0.0.1:8089/items?limit=2&cursor=2');
  assert.deepEqual(seen.requests.map((r) => r.url), [
    'http://127.0.0.1:8089/items?limit=2',
    'http://127.0.0.1:8089/items?limit=2&cursor=2',
    'http://127.0.0.1:8089/items?limit=2&cursor=4',
  ]);
  for (const r of seen.requests) {
    assert.equal(r.method, 'get');
    assert.ok(!r.headers.some(([k]) => k.toLowerCase() === 'authorization'), 'the host injects the credential, not the connector');
  }
  const { provenance, ...first } = ok(restExample.source.listDrafts({ limit: 1 })).drafts[0];
  assert.deepEqual(first, {
    recordId: 'i1',
    recordType: 'document',
    sourceInstance: '127.0.0.1:8089/items',
    aclTags: [],
    raw: '{"id":"i1","updated_at":"2026-01-01T00:00:00Z"}',
    metadata: undefined,
  });
  assert.equal(provenance.uri, 'http://127.0.0.1:8089/items/i1');
  assert.equal(provenance.lastModified, '2026-01-01T00:00:00Z');
  assert.equal(provenance.etag ?? provenance.author, undefined);
  assert.equal(ok(restExample.source.getRecord('i4')).raw, '{"id":"i4"}');
  assert.equal(restExample.source.getRecord('zz').val.tag, 'not-found');
});

test("rest: the host's errors pass through with their case", () => {
  const errors = [
    { tag: 'rate-limited', val: { retryAfterMs: 120000n, message: 'GET http://127.0.0.1:8089/items?limit=2: 429 Too Many Requests' } },
    { tag: 'api', val: { status: 503, message: 'GET http://127.0.0.1:8089/items?limit=2: 503 Service Unavailable (after 2 retries)' } },
    { tag: 'denied', val: 'HTTP to http://127.0.0.1:8089 is not granted (http.allow: https://api.example.com)' },
    { tag: 'auth', val: 'GET http://127.0.0.1:8089/items?limit=2: 401 Unauthorized' },
  ];
  for (const e of errors) {
    restHost(REST_CONFIG, () => {
      throw new FakeComponentError(e);
    });
    assert.deepEqual(restExample.source.listDrafts({}), { tag: 'err', val: e });
  }
  restHost(REST_CONFIG, () => ({ status: 200, body: '{"items": 5}' }));
  assert.deepEqual(restExample.source.listDrafts({}), {
    tag: 'err',
    val: { tag: 'parse', val: 'GET http://127.0.0.1:8089/items?limit=2: expected an object with an `items` array' },
  });
});

test('rest: an uncaught exception is `other` with its message; config errors name the key', () => {
  restHost({ ...REST_CONFIG, debug_throw: 'simulated bug: cannot read the page' }, api);
  const result = restExample.source.listDrafts({});
  assert.equal(result.tag, 'err');
  assert.equal(result.val.tag, 'other');
  assert.ok(result.val.val.startsWith('simulated bug: cannot read the page'), result.val.val);
  restHost({}, api);
  assert.deepEqual(restExample.source.listDrafts({}), {
    tag: 'err',
    val: { tag: 'invalid-config', val: 'config `base_url` is required: the API to read, such as https://api.example.com' },
  });
  restHost({ base_url: 'ftp://x' }, api);
  assert.equal(restExample.source.listDrafts({}).val.val, 'config `base_url` is `ftp://x`; expected an `http://` or `https://` URL');
});
