// The config readers: the Rust SDK's rules and wording (guests/sdk/src/settings.rs).

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { ConfigReader, InvalidConfig, fromPairs, settings } from '../sdk/connector.js';
import { fakeHost } from './fake-host.js';

function reader(pairs) {
  return fromPairs((cfg) => cfg, pairs);
}

function refused(f) {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof InvalidConfig, `expected invalid-config, got ${e}`);
    return e.message;
  }
  assert.fail('expected invalid-config');
}

test('values are trimmed and empty is unset', () => {
  const cfg = reader({ a: '  x ', blank: '   ', empty: '' });
  assert.equal(cfg.opt('a'), 'x');
  assert.equal(cfg.opt('blank'), undefined);
  assert.equal(cfg.opt('empty'), undefined);
  assert.equal(cfg.opt('absent'), undefined);
  assert.equal(cfg.optOr('blank', 'd'), 'd');
  assert.equal(cfg.required('a', 'why'), 'x');
  assert.equal(refused(() => cfg.required('blank', 'the feed file')), 'config `blank` is required: the feed file');
});

test('oneOf names the choices', () => {
  const cfg = reader({ state: 'open', sort: 'size' });
  assert.equal(cfg.oneOf('state', ['open', 'closed']), 'open');
  assert.equal(cfg.oneOf('unset', ['open']), undefined);
  assert.equal(refused(() => cfg.oneOf('sort', ['created', 'updated'])), 'config `sort` is `size`; expected one of created, updated');
});

test('positiveInt refuses zero, signs, words and more than a u32', () => {
  const cfg = reader({ n: ' 25 ', plus: '+7', zero: '0', neg: '-1', word: 'ten', big: '4294967296' });
  assert.equal(cfg.positiveInt('n'), 25);
  assert.equal(cfg.positiveInt('plus'), 7);
  assert.equal(cfg.positiveInt('unset'), undefined);
  for (const [key, value] of [['zero', '0'], ['neg', '-1'], ['word', 'ten'], ['big', '4294967296']]) {
    assert.equal(refused(() => cfg.positiveInt(key)), `config \`${key}\` is \`${value}\`; expected a positive whole number`);
  }
});

test('int takes a range and says it', () => {
  const cfg = reader({ a: '-3', b: '1.5', c: '500' });
  assert.equal(cfg.int('a'), -3);
  assert.equal(cfg.int('unset', { min: 0 }), undefined);
  assert.equal(refused(() => cfg.int('b')), 'config `b` is `1.5`; expected a whole number');
  assert.equal(refused(() => cfg.int('c', { min: 1, max: 100 })), 'config `c` is `500`; expected a whole number from 1 to 100');
  assert.equal(refused(() => cfg.int('a', { min: 0 })), 'config `a` is `-3`; expected a whole number of at least 0');
});

test('bool takes the usual spellings', () => {
  const cfg = reader({ t: 'TRUE', y: 'yes', f: 'off', z: '0', bad: 'maybe' });
  assert.equal(cfg.bool('t'), true);
  assert.equal(cfg.bool('y'), true);
  assert.equal(cfg.bool('f'), false);
  assert.equal(cfg.bool('z'), false);
  assert.equal(cfg.bool('unset', true), true);
  assert.equal(refused(() => cfg.bool('bad')), 'config `bad` is `maybe`; expected `true` or `false`');
});

test('list, recordType and httpUrl', () => {
  const cfg = reader({ tags: ' a, b ,,c ,', lower: 'event', upper: 'Metric', bad: 'issue', shout: 'CLAIM', a: 'http://127.0.0.1:8089//', c: 'ftp://h' });
  assert.deepEqual(cfg.list('tags'), ['a', 'b', 'c']);
  assert.deepEqual(cfg.list('unset'), []);
  assert.equal(cfg.recordType('lower', 'claim'), 'event');
  assert.equal(cfg.recordType('upper', 'claim'), 'metric');
  assert.equal(cfg.recordType('unset', 'claim'), 'claim');
  assert.equal(refused(() => cfg.recordType('bad', 'claim')), 'config `bad` is `issue`; expected one of document, event, entity, claim, metric');
  assert.equal(refused(() => cfg.recordType('shout', 'claim')), 'config `shout` is `CLAIM`; expected one of document, event, entity, claim, metric');
  assert.equal(cfg.httpUrl('a'), 'http://127.0.0.1:8089');
  assert.equal(cfg.httpUrl('unset'), undefined);
  assert.equal(refused(() => cfg.httpUrl('c')), 'config `c` is `ftp://h`; expected an `http://` or `https://` URL');
});

test('fromPairs lets the last pair win', () => {
  const read = (cfg) => cfg.required('k', 'a value');
  assert.equal(fromPairs(read, [['k', 'first'], ['k', 'last']]), 'last');
  assert.equal(refused(() => fromPairs(read, [['k', ' ']])), 'config `k` is required: a value');
});

test('a settings cell reads the host once and keeps an error too', () => {
  let reads = 0;
  const read = (cfg) => {
    reads += 1;
    return cfg.positiveInt('n') ?? 1;
  };
  fakeHost({ config: { n: '7' } });
  const cell = settings(read);
  assert.equal(cell.get(), 7);
  fakeHost({ config: { n: '8' } });
  assert.equal(cell.get(), 7, 'what the first call read is kept');
  assert.equal(reads, 1);

  fakeHost({ config: { n: 'zero' } });
  const failing = settings(read);
  assert.equal(refused(() => failing.get()), 'config `n` is `zero`; expected a positive whole number');
  fakeHost({ config: { n: '8' } });
  assert.equal(refused(() => failing.get()), 'config `n` is `zero`; expected a positive whole number');
  failing.reset();
  assert.equal(failing.get(), 8);
  assert.ok(new ConfigReader(() => undefined).opt('x') === undefined);
});
