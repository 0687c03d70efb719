// Unit tests of the connector under Node, with the kit's fake host (no component, no
// network): `node --test`.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { FakeComponentError, fakeHost, jsonResponse } from '{{kit}}/js/test/fake-host.js';
import * as connector from '../index.js';

const BASE = 'https://api.example.com';
const ITEMS = [1, 2, 3, 4, 5].map((id) => ({ id, title: `item ${id}`, updated_at: `2026-01-0${id}T00:00:00Z` }));

/** A fake API: pages of 3 items, and one item by id. */
function api(request) {
  const url = new URL(request.url);
  if (url.pathname === '/items') {
    const page = Number(url.searchParams.get('page'));
    return jsonResponse({ items: ITEMS.slice((page - 1) * 3, page * 3), next: page * 3 < ITEMS.length ? page + 1 : null });
  }
  const item = ITEMS.find((i) => `/items/${i.id}` === url.pathname);
  if (item !== undefined) return jsonResponse(item);
  throw new FakeComponentError({ tag: 'not-found', val: `GET ${request.url}: 404 Not Found` });
}

function host(config = { base_url: BASE }) {
  const seen = fakeHost({ config, http: api });
  connector.resetSettings();
  return seen;
}

function ok(result) {
  assert.equal(result.tag, 'ok', JSON.stringify(result.val));
  return result.val;
}

test('two pages of drafts, then no next cursor', () => {
  const seen = host();
  const first = ok(connector.source.listDrafts({}));
  assert.deepEqual(first.drafts.map((d) => d.recordId), ['1', '2', '3']);
  assert.equal(first.nextCursor, '2');
  assert.equal(first.drafts[0].provenance.uri, `${BASE}/items/1`);
  assert.equal(first.drafts[0].provenance.lastModified, '2026-01-01T00:00:00Z');
  assert.equal(first.drafts[0].sourceInstance, 'api.example.com');
  assert.equal(first.drafts[0].recordType, 'document');
  const second = ok(connector.source.listDrafts({ cursor: first.nextCursor }));
  assert.deepEqual(second.drafts.map((d) => d.recordId), ['4', '5']);
  assert.equal(second.nextCursor, undefined);
  assert.deepEqual(seen.requests.map((r) => r.url), [`${BASE}/items?page=1`, `${BASE}/items?page=2`]);
});

test('get-record fetches one item; a missing one stays not-found', () => {
  host();
  assert.equal(ok(connector.source.getRecord('3')).id, '3');
  assert.equal(connector.source.getRecord('9').val.tag, 'not-found');
});

test('items without an id are skipped, a body without items is a parse error', () => {
  const s = { baseUrl: BASE };
  const page = connector.parsePage(s, 'u', { items: [{ id: 'a' }, { title: 'no id' }, 7], next: null });
  assert.deepEqual(page.records.map((r) => r.id), ['a']);
  assert.deepEqual(page.skipped.map((k) => k.locator), ['item 2 of u', 'item 3 of u']);
  assert.throws(() => connector.parsePage(s, 'u', { data: [] }), { name: 'Parse' });
  assert.throws(() => connector.parsePage(s, 'u', { items: [], next: 'soon' }), { name: 'Parse' });
});

test('config and cursor errors are invalid-config', () => {
  host({});
  assert.deepEqual(connector.source.listDrafts({}).val.tag, 'invalid-config');
  host({ base_url: BASE, record_type: 'issue' });
  assert.equal(connector.source.listDrafts({}).val.tag, 'invalid-config');
  host();
  assert.equal(connector.source.listDrafts({ cursor: 'x' }).val.tag, 'invalid-config');
});
