// Granted directories: which preopen holds a path, errors, and reading lines with
// byte offsets across chunk boundaries.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { Denied, NotFound, files } from '../sdk/connector.js';
import { fakeHost } from './fake-host.js';

test('a path is opened under the longest granted directory that holds it', () => {
  fakeHost({ dirs: ['/', '/data', '/data/deep'], files: { '/data/deep/x.txt': 'deep', '/data/y.txt': 'shallow', '/top.txt': 'top' } });
  assert.equal(files.readText('/data/deep/x.txt'), 'deep');
  assert.equal(files.readText('/data/./y.txt'), 'shallow');
  assert.equal(files.readText('/top.txt'), 'top');
});

test('outside every grant is denied; a missing file is not-found with a hint', () => {
  const seen = fakeHost({ dirs: ['/feeds'], files: {} });
  assert.throws(() => files.readText('/etc/passwd'), (e) => e instanceof Denied && e.message === 'cannot open /etc/passwd: it is in no granted directory (granted: /feeds)');
  assert.throws(() => files.readText('/feedsx/a'), (e) => e instanceof Denied);
  assert.throws(
    () => files.readText('/feeds/missing.jsonl'),
    (e) => e instanceof NotFound && e.message === 'cannot open /feeds/missing.jsonl: no such file or directory (is its directory granted in the manifest?)',
  );
  assert.equal(seen.fs.open, 0);
  fakeHost({});
  assert.throws(() => files.open('/x'), (e) => e instanceof Denied && e.message.endsWith('(granted: none)'));
});

test('lines come with byte offsets, across chunks, and resources are dropped', () => {
  const text = 'first\nsecond line\n\nü-üü\nlast without newline';
  const seen = fakeHost({ dirs: ['/d'], files: { '/d/f': text }, maxChunk: 4 });
  const reader = files.lines('/d/f', { chunkBytes: 3 });
  const got = [];
  for (let l = reader.next(); l !== null; l = reader.next()) got.push([new TextDecoder().decode(l.bytes), l.start, l.end]);
  assert.equal(reader.hasMore(), false);
  reader.close();
  const bytes = new TextEncoder().encode(text);
  assert.deepEqual(got.map((g) => g[0]), ['first', 'second line', '', 'ü-üü', 'last without newline']);
  assert.equal(got[0][1], 0);
  assert.equal(got[1][1], 6);
  assert.equal(got.at(-1)[2], bytes.length);
  for (let i = 1; i < got.length; i++) assert.equal(got[i][1], got[i - 1][2], 'lines are contiguous');
  assert.equal(seen.fs.open, 0, 'file and stream dropped');

  // From an offset, and hasMore before the end.
  const r2 = files.lines('/d/f', { offset: 6 });
  assert.equal(new TextDecoder().decode(r2.next().bytes), 'second line');
  assert.equal(r2.hasMore(), true);
  r2.close();
  assert.equal(seen.fs.open, 0);
});

test('a file is read in large chunks', () => {
  const big = 'x'.repeat(3 * (1 << 20) + 5);
  const seen = fakeHost({ dirs: ['/d'], files: { '/d/big': big } });
  assert.equal(files.readBytes('/d/big').length, big.length);
  assert.equal(seen.fs.reads, 5, 'four chunks of up to 1 MiB and the read that says closed');
  const f = files.open('/d/big');
  assert.equal(f.size(), big.length);
  f.close();
});
