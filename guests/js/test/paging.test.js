// Paging helpers: limits, offset cursors, arrays, findRecord, Link headers.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { InvalidConfig, findRecord, linkNext, offsetCursor, pageLimit, pageOfArray, parseOffsetCursor, resolveUrl } from '../sdk/connector.js';

test('pageLimit takes the host limit, else the page size, within bounds', () => {
  assert.equal(pageLimit({}, { pageSize: 50 }), 50);
  assert.equal(pageLimit({ limit: 20 }, { pageSize: 50 }), 20);
  assert.equal(pageLimit({ limit: 0 }), 1);
  assert.equal(pageLimit({ limit: 1e9 }, { max: 10000 }), 10000);
  assert.equal(pageLimit(undefined), 1000);
});

test('offset cursors round-trip and foreign cursors are refused', () => {
  assert.equal(parseOffsetCursor(undefined), 0);
  assert.equal(parseOffsetCursor(offsetCursor(42)), 42);
  assert.throws(() => parseOffsetCursor('page=2'), (e) => e instanceof InvalidConfig && e.message === 'cursor `page=2` was not issued by this connector (expected `o:<offset>`)');
});

test('pageOfArray pages through an array once', () => {
  const items = Array.from({ length: 10 }, (_, i) => i);
  const seen = [];
  let cursor;
  let pages = 0;
  do {
    const page = pageOfArray(items, { cursor, limit: 4 });
    seen.push(...page.items);
    cursor = page.nextCursor;
    pages += 1;
  } while (cursor !== undefined);
  assert.deepEqual(seen, items);
  assert.equal(pages, 3);
  assert.deepEqual(pageOfArray([], {}), { items: [], start: 0, nextCursor: undefined });
});

test('findRecord scans the pages and stops at the last', () => {
  const records = Array.from({ length: 7 }, (_, i) => ({ id: `r${i}` }));
  const calls = [];
  const list = ({ cursor, limit }) => {
    calls.push(cursor);
    const page = pageOfArray(records, { cursor, limit });
    return { records: page.items, nextCursor: page.nextCursor };
  };
  assert.deepEqual(findRecord(list, 'r5', { limit: 3 }), { id: 'r5' });
  assert.deepEqual(calls, [undefined, 'o:3']);
  assert.equal(findRecord(list, 'nope', { limit: 3 }), undefined);
});

test('linkNext reads the next relation of a Link header', () => {
  assert.equal(linkNext('<https://api.test/items?page=2>; rel="next", <https://api.test/items?page=9>; rel="last"'), 'https://api.test/items?page=2');
  assert.equal(linkNext('<https://a.test/1>; rel="prev", </items?page=3>; rel=next'), '/items?page=3');
  assert.equal(linkNext('<https://a.test/x>; rel="next last"'), 'https://a.test/x');
  assert.equal(linkNext('<https://a.test/x>; rel="NEXT"'), 'https://a.test/x');
  assert.equal(linkNext('<https://a.test/x>; rel="last"'), undefined);
  assert.equal(linkNext(undefined), undefined);
  assert.equal(resolveUrl('https://a.test/v1/items?page=1', '/v1/items?page=2'), 'https://a.test/v1/items?page=2');
});
