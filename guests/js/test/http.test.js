// The HTTP wrapper: what it sends through the host's import, what it returns, and
// how the host's refusals come back.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { Api, Denied, Other, Parse, RateLimited, http } from '../sdk/connector.js';
import { FakeComponentError, fakeHost, jsonResponse } from './fake-host.js';

test('a GET sends method, URL, headers and timeout as the import wants them', () => {
  const seen = fakeHost({ http: () => jsonResponse({ ok: true }, 200, [['etag', '"v1"']]) });
  const res = http.get('http://127.0.0.1:8089/items?x=1', { headers: { Accept: 'application/json' }, timeoutMs: 2500.7 });
  assert.deepEqual(seen.requests, [
    { method: 'get', url: 'http://127.0.0.1:8089/items?x=1', headers: [['Accept', 'application/json']], body: undefined, timeoutMs: 2501 },
  ]);
  assert.equal(res.status, 200);
  assert.equal(res.ok, true);
  assert.equal(res.header('ETag'), '"v1"');
  assert.equal(res.header('missing'), undefined);
  assert.deepEqual(res.json(), { ok: true });
  assert.equal(res.text(), '{"ok":true}');
  assert.ok(res.body instanceof Uint8Array);
});

test('bodies: strings, bytes and JSON', () => {
  const seen = fakeHost({ http: () => ({ status: 201, body: '' }) });
  http.post('http://h.test/a', { body: 'grüße' });
  http.put('http://h.test/b', { body: new Uint8Array([1, 2, 3]), headers: [['X-A', 1]] });
  http.request('PATCH', 'http://h.test/c', { json: { a: [1] } });
  http.post('http://h.test/d', { json: {}, headers: { 'content-type': 'application/merge-patch+json' } });
  assert.deepEqual([...seen.requests[0].body], [...new TextEncoder().encode('grüße')]);
  assert.deepEqual([...seen.requests[1].body], [1, 2, 3]);
  assert.deepEqual(seen.requests[1].headers, [['X-A', '1']]);
  assert.equal(seen.requests[2].method, 'patch');
  assert.equal(new TextDecoder().decode(seen.requests[2].body), '{"a":[1]}');
  assert.deepEqual(seen.requests[2].headers, [['Content-Type', 'application/json']]);
  assert.deepEqual(seen.requests[3].headers, [['content-type', 'application/merge-patch+json']]);
  assert.throws(() => http.request('TRACE', 'http://h.test/'), (e) => e instanceof Other);
  assert.throws(() => http.post('http://h.test/', { body: 5 }), (e) => e instanceof Other);
});

test('a body that is not JSON is a parse error naming the request', () => {
  fakeHost({ http: () => ({ status: 200, body: '<html>' }) });
  assert.throws(
    () => http.get('http://h.test/items').json(),
    (e) => e instanceof Parse && e.message.startsWith('GET http://h.test/items: the response body is not JSON'),
  );
});

test("the host's refusals come back as typed errors", () => {
  const answers = {
    '/denied': { tag: 'denied', val: 'HTTP to http://evil.test is not granted (http.allow: http://127.0.0.1:8089)' },
    '/slow': { tag: 'rate-limited', val: { retryAfterMs: 60000n, message: 'GET http://h.test/slow: 429' } },
    '/down': { tag: 'api', val: { status: 503, message: 'GET http://h.test/down: 503 Service Unavailable' } },
  };
  fakeHost({ http: (req) => { throw new FakeComponentError(answers[new URL(req.url).pathname]); } });
  assert.throws(() => http.get('http://h.test/denied'), (e) => e instanceof Denied && e.message.includes('is not granted'));
  assert.throws(() => http.get('http://h.test/slow'), (e) => e instanceof RateLimited && e.retryAfterMs === 60000);
  assert.throws(() => http.get('http://h.test/down'), (e) => e instanceof Api && e.status === 503);
  // No fake handler at all: the fake denies, as a manifest without [http] does.
  fakeHost();
  assert.throws(() => http.get('http://h.test/'), (e) => e instanceof Denied);
});
