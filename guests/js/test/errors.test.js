// The connector-error cases: classes to WIT values and back, and anything thrown.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  Api,
  Auth,
  CircuitOpen,
  ConnectorError,
  Denied,
  InvalidConfig,
  MAX_MESSAGE,
  NotFound,
  Other,
  Parse,
  RateLimited,
  Unsupported,
  asConnectorError,
  toWitError,
  withContext,
} from '../sdk/connector.js';
import { FakeComponentError } from './fake-host.js';

test('each class becomes its case of connector-error', () => {
  assert.deepEqual(new Auth('bad token').toWit(), { tag: 'auth', val: 'bad token' });
  assert.deepEqual(new NotFound('no x').toWit(), { tag: 'not-found', val: 'no x' });
  assert.deepEqual(new InvalidConfig('config `path` is required').toWit(), {
    tag: 'invalid-config',
    val: 'config `path` is required',
  });
  assert.deepEqual(new Parse('bad json').toWit(), { tag: 'parse', val: 'bad json' });
  assert.deepEqual(new Denied('no').toWit(), { tag: 'denied', val: 'no' });
  assert.deepEqual(new Unsupported('nope').toWit(), { tag: 'unsupported', val: 'nope' });
  assert.deepEqual(new Api(503, 'down').toWit(), { tag: 'api', val: { status: 503, message: 'down' } });
  // u64 fields are BigInt in the bindings; whole milliseconds, rounded.
  assert.deepEqual(new RateLimited('slow down', 1500.4).toWit(), {
    tag: 'rate-limited',
    val: { retryAfterMs: 1500n, message: 'slow down' },
  });
  assert.deepEqual(new RateLimited('slow down').toWit(), {
    tag: 'rate-limited',
    val: { retryAfterMs: undefined, message: 'slow down' },
  });
  assert.deepEqual(new CircuitOpen('open', -5).toWit(), { tag: 'circuit-open', val: { retryAfterMs: 0n, message: 'open' } });
  assert.equal(new Api(99999, 'x').status, 0, 'a status outside u16 is not lowered as garbage');
  assert.equal(new NotFound('x').name, 'NotFound');
  assert.ok(new NotFound('x') instanceof ConnectorError && new NotFound('x') instanceof Error);
});

test('what an import throws comes back as the matching class', () => {
  const e = asConnectorError(new FakeComponentError({ tag: 'rate-limited', val: { retryAfterMs: 2500n, message: 'GET u: 429' } }));
  assert.ok(e instanceof RateLimited);
  assert.equal(e.retryAfterMs, 2500);
  assert.equal(e.message, 'GET u: 429');
  const d = asConnectorError(new FakeComponentError({ tag: 'denied', val: 'HTTP to http://x is not granted' }));
  assert.ok(d instanceof Denied);
  const a = asConnectorError(new FakeComponentError({ tag: 'api', val: { status: 502, message: 'bad gateway' } }));
  assert.ok(a instanceof Api);
  assert.equal(a.status, 502);
  // And a plain `{tag, val}` thrown by a connector.
  assert.deepEqual(toWitError({ tag: 'quota', val: 'used up' }), { tag: 'quota', val: 'used up' });
});

test('anything else thrown is `other` with its message', () => {
  const w = toWitError(new TypeError('cannot read properties of undefined'));
  assert.equal(w.tag, 'other');
  assert.match(w.val, /^TypeError: cannot read properties of undefined/);
  assert.match(toWitError(new Error('boom')).val, /^boom/);
  assert.deepEqual(toWitError('a string'), { tag: 'other', val: 'a string' });
  assert.deepEqual(toWitError(42), { tag: 'other', val: 'a thrown value: 42' });
  assert.deepEqual(toWitError(undefined), { tag: 'other', val: 'a thrown undefined' });
  assert.deepEqual(toWitError({ tag: 'no-such-case', val: 1 }), {
    tag: 'other',
    val: 'a thrown value: {"tag":"no-such-case","val":1}',
  });
  const cyclic = {};
  cyclic.self = cyclic;
  assert.equal(toWitError(cyclic).tag, 'other');
  const hostile = {
    get payload() {
      throw new Error('gotcha');
    },
  };
  assert.equal(toWitError(hostile).tag, 'other');
});

test('messages are bounded', () => {
  const w = toWitError(new Error('x'.repeat(100_000)));
  assert.equal(w.tag, 'other');
  assert.ok(w.val.length < MAX_MESSAGE + 100, `${w.val.length}`);
  assert.match(w.val, /more characters cut/);
  const n = new NotFound('y'.repeat(10_000)).toWit();
  assert.ok(n.val.length < MAX_MESSAGE + 100);
  // A surrogate pair is never split.
  const pairs = new Other('😀'.repeat(5000)).toWit().val;
  assert.ok(!/[\ud800-\udbff](?![\udc00-\udfff])/.test(pairs));
});

test('withContext puts the request first and keeps the case', () => {
  const e = withContext(new RateLimited('slow down', 5), 'GET u');
  assert.ok(e instanceof RateLimited);
  assert.equal(e.message, 'GET u: slow down');
  assert.equal(e.retryAfterMs, 5);
  assert.equal(withContext(new NotFound('GET u: 404'), 'GET u').message, 'GET u: 404');
  assert.equal(withContext(new Api(500, 'boom'), 'GET u').status, 500);
  assert.ok(withContext(new Error('plain'), 'ctx') instanceof Other);
});
