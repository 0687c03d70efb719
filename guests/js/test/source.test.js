// defineConnector: the exports the host calls, the derived list-drafts, error
// mapping and the shape checks that keep the bindings from trapping.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { NotFound, RateLimited, defineConnector } from '../sdk/connector.js';
import { FakeComponentError } from './fake-host.js';

const RECORDS = [
  { id: 'a', raw: '{"id":"a","n":1}', provenance: { uri: 'test://a' } },
  { id: 'b', raw: '{"id":"b","n":2}', provenance: { uri: 'test://b', lastModified: '2026-01-01T00:00:00Z' } },
];

function lines(extra = {}) {
  const calls = { list: [], envelopes: 0 };
  const source = defineConnector({
    sourceName: 'lines',
    listRecords(req) {
      calls.list.push(req);
      return { records: RECORDS.map((r) => ({ ...r })), nextCursor: req.cursor === undefined ? 'p2' : undefined, skipped: [{ locator: 'line 3', reason: 'broken' }] };
    },
    toEnvelopes(records) {
      calls.envelopes += 1;
      return records.map((r) => ({
        recordId: r.id,
        recordType: 'claim',
        sourceInstance: 'here',
        provenance: r.provenance,
        aclTags: ['t'],
        raw: r.raw,
      }));
    },
    ...extra,
  });
  return { source, calls };
}

test('list-drafts is to-envelopes of list-records, in one call', () => {
  const { source, calls } = lines();
  const listed = source.listRecords({ cursor: undefined, limit: 10 });
  assert.equal(listed.tag, 'ok');
  const described = source.toEnvelopes(listed.val.records);
  const drafts = source.listDrafts({ cursor: undefined, limit: 10 });
  assert.equal(drafts.tag, 'ok');
  assert.deepEqual(drafts.val.drafts, described.val);
  assert.equal(drafts.val.nextCursor, listed.val.nextCursor);
  assert.deepEqual(drafts.val.skipped, [{ locator: 'line 3', reason: 'broken' }]);
  assert.equal(drafts.val.drafts[1].provenance.lastModified, '2026-01-01T00:00:00Z');
  assert.deepEqual(calls.list[1], { cursor: undefined, limit: 10 });
  const last = source.listDrafts({ cursor: 'p2', limit: undefined });
  assert.equal(last.val.nextCursor, undefined);
  assert.equal(source.sourceName(), 'lines');
});

test('get-record is unsupported unless the connector offers it', () => {
  const { source } = lines();
  assert.deepEqual(source.getRecord('a'), { tag: 'err', val: { tag: 'unsupported', val: 'connector `lines` does not offer get-record' } });
  const { source: withGet } = lines({
    getRecord(id) {
      const r = RECORDS.find((x) => x.id === id);
      if (!r) throw new NotFound(`no record \`${id}\``);
      return r;
    },
  });
  assert.equal(withGet.getRecord('b').val.id, 'b');
  assert.deepEqual(withGet.getRecord('z'), { tag: 'err', val: { tag: 'not-found', val: 'no record `z`' } });
});

test('an uncaught exception in any export is `other` with its message, never a throw', () => {
  const boom = () => {
    throw new TypeError('records is not iterable');
  };
  const { source } = lines({ listRecords: boom, toEnvelopes: boom, getRecord: boom });
  for (const result of [source.listRecords({}), source.listDrafts({}), source.toEnvelopes([]), source.getRecord('x')]) {
    assert.equal(result.tag, 'err');
    assert.equal(result.val.tag, 'other');
    assert.match(result.val.val, /^TypeError: records is not iterable/);
  }
});

test('typed errors and errors from imports keep their case', () => {
  const { source } = lines({
    listRecords() {
      throw new RateLimited('GET u: 429 Too Many Requests', 3000);
    },
  });
  assert.deepEqual(source.listDrafts({}), { tag: 'err', val: { tag: 'rate-limited', val: { retryAfterMs: 3000n, message: 'GET u: 429 Too Many Requests' } } });
  const { source: passing } = lines({
    listRecords() {
      // An import's error the connector did not catch.
      throw new FakeComponentError({ tag: 'denied', val: 'HTTP to http://evil.test is not granted' });
    },
  });
  assert.deepEqual(passing.listDrafts({}), { tag: 'err', val: { tag: 'denied', val: 'HTTP to http://evil.test is not granted' } });
});

test('a malformed page or draft is `other` naming the field', () => {
  const cases = [
    [{ listRecords: () => ({ records: [{ id: 'a', provenance: { uri: 'u' } }] }) }, 'listRecords: records[0].raw: is missing'],
    [{ listRecords: () => ({ records: [{ id: 'a', raw: '{}', provenance: {} }] }) }, 'listRecords: records[0].provenance.uri: is undefined'],
    [{ listRecords: () => ({ records: [{ id: null, raw: '{}', provenance: { uri: 'u' } }] }) }, 'listRecords: records[0].id: is null; expected a string'],
    [{ listRecords: () => 'nope' }, 'listRecords: returned string `nope`'],
    [{ listRecords: () => ({ records: [], nextCursor: 7n }) }, 'listRecords: nextCursor: is bigint'],
    [{ toEnvelopes: (rs) => rs.map((r) => ({ recordId: r.id, recordType: 'issue', sourceInstance: 'x', provenance: r.provenance, raw: r.raw })) }, 'toEnvelopes: drafts[0].recordType: is string `issue`; expected one of document, event, entity, claim, metric'],
    [{ toEnvelopes: () => [] }, 'toEnvelopes: returned 0 drafts for 2 records; expected one draft per record'],
    [{ toEnvelopes: (rs) => rs.map((r) => ({ recordId: r.id, recordType: 'claim', provenance: r.provenance, raw: r.raw })) }, 'toEnvelopes: drafts[0].sourceInstance: is undefined'],
  ];
  for (const [extra, message] of cases) {
    const result = lines(extra).source.listDrafts({});
    assert.equal(result.tag, 'err', message);
    assert.equal(result.val.tag, 'other');
    assert.ok(result.val.val.startsWith(message), `${result.val.val}\n  does not start with\n${message}`);
  }
});

test('values are converted where the contract allows: raw objects, numbers, capitalised types', () => {
  const { source } = lines({
    listRecords: () => ({ records: [{ id: 7, raw: { id: 7 }, provenance: { uri: 'u', etag: null } }] }),
    toEnvelopes: (rs) => rs.map((r) => ({ recordId: r.id, recordType: 'Claim', sourceInstance: 'x', provenance: r.provenance, raw: r.raw, metadata: { k: 1 } })),
  });
  const result = source.listDrafts({});
  assert.equal(result.tag, 'ok', JSON.stringify(result));
  const [d] = result.val.drafts;
  assert.deepEqual(d, {
    recordId: '7',
    recordType: 'claim',
    sourceInstance: 'x',
    provenance: { uri: 'u', etag: undefined, lastModified: undefined, author: undefined },
    aclTags: [],
    raw: '{"id":7}',
    metadata: '{"k":1}',
  });
  assert.deepEqual(result.val.skipped, []);
});

test('a draft the bindings can lower as it is is handed on without a copy; any other is converted', () => {
  const ready = {
    recordId: 'a',
    recordType: 'claim',
    sourceInstance: 'x',
    provenance: { uri: 'u', etag: undefined, lastModified: 't', author: undefined },
    aclTags: ['t'],
    raw: '{"id":"a"}',
    metadata: undefined,
  };
  const needsWork = [
    { ...ready, recordType: 'Claim' },
    { ...ready, aclTags: undefined },
    { ...ready, metadata: null },
    { ...ready, provenance: { uri: 'u', etag: null } },
  ];
  const { metadata, ...withoutMetadata } = ready;
  needsWork.push(withoutMetadata);
  const drafts = [ready, ...needsWork];
  const { source } = lines({
    listRecords: () => ({ records: drafts.map((_, i) => ({ id: `r${i}`, raw: '{}', provenance: { uri: 'u' } })) }),
    toEnvelopes: () => drafts,
  });
  const result = source.listDrafts({});
  assert.equal(result.tag, 'ok', JSON.stringify(result));
  const out = result.val.drafts;
  assert.equal(out[0], ready, 'the same object');
  for (let i = 1; i < out.length; i++) {
    assert.notEqual(out[i], drafts[i], `draft ${i} is converted`);
    assert.equal(out[i].recordType, 'claim');
    assert.ok(Array.isArray(out[i].aclTags));
    assert.ok('metadata' in out[i] && out[i].metadata === undefined);
    assert.equal(out[i].provenance.etag, undefined);
  }
  // A tag that is not a string is still refused, naming it.
  const bad = lines({ toEnvelopes: (rs) => rs.map((r) => ({ ...ready, recordId: r.id, aclTags: [1] })) }).source.listDrafts({});
  assert.equal(bad.tag, 'err');
  assert.match(bad.val.val, /aclTags\[0\]/);
});

test('async functions are awaited', async () => {
  const { source } = lines({
    async listRecords() {
      return { records: [RECORDS[0]], nextCursor: undefined };
    },
    async toEnvelopes(records) {
      throw new NotFound(`later: ${records.length}`);
    },
  });
  const result = await source.listDrafts({});
  assert.deepEqual(result, { tag: 'err', val: { tag: 'not-found', val: 'later: 1' } });
  const listed = await source.listRecords({});
  assert.equal(listed.val.records[0].id, 'a');
});

test('a sourceName that throws still returns a string for the host to refuse', () => {
  const { source } = lines({
    sourceName() {
      throw new Error('no name');
    },
  });
  assert.match(source.sourceName(), /^<sourceName threw: no name/);
  assert.throws(() => defineConnector({ sourceName: 'x', listRecords: () => {} }), /toEnvelopes/);
});
