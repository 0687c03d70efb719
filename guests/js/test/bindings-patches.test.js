// The build-time fixes to the generated bindings (tools/bindings-patches.mjs), run
// under Node: the replacement lowering of list-drafts' drafts writes what a reader of
// the canonical ABI layout reads back as the same drafts, through memory that grows
// while it allocates; bad values still throw the generated code's TypeErrors; and the
// patches refuse bindings they do not know.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  DRAFTS_END,
  DRAFTS_FUNCTION,
  DRAFTS_START,
  DRAFTS_FUNCTION_SOURCE,
  STRINGS_REPLACEMENT,
  patchDrafts,
  patchStrings,
} from '../tools/bindings-patches.mjs';

const TEXT_ENCODER_UTF8 = new TextEncoder();

/** A guest memory with a bump allocator that grows it (detaching old views). */
function guest() {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 1000 });
  let top = 16;
  const calls = [];
  const realloc = (old, oldLen, align, len) => {
    calls.push([old, oldLen, align, len]);
    if (old !== 0 && len <= oldLen) return old; // shrink in place
    top = Math.ceil(top / align) * align;
    const ptr = top;
    top += Math.max(len, 1);
    while (top > memory.buffer.byteLength) memory.grow(1);
    if (old !== 0) new Uint8Array(memory.buffer).copyWithin(ptr, old, old + oldLen);
    return ptr;
  };
  return { memory, realloc, calls };
}

/** The patched helpers, as the bindings hold them. */
function helpers() {
  return new Function(
    'TEXT_ENCODER_UTF8',
    `${STRINGS_REPLACEMENT}\n${DRAFTS_FUNCTION_SOURCE}\nreturn { _utf8AllocateAndEncode, _lowerEnvelopeDrafts };`,
  )(TEXT_ENCODER_UTF8);
}

const TYPES = ['document', 'event', 'entity', 'claim', 'metric'];

/** Reads `n` envelope-drafts at `ptr` as the host lifts them. */
function lift(memory, ptr, n) {
  const dv = new DataView(memory.buffer);
  const text = (at) => {
    const p = dv.getUint32(at, true);
    const len = dv.getUint32(at + 4, true);
    return new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array(memory.buffer, p, len));
  };
  const opt = (at) => (dv.getUint8(at) === 0 ? undefined : text(at + 4));
  assert.equal(ptr % 4, 0, 'the list is aligned');
  const out = [];
  for (let i = 0; i < n; i++) {
    const b = ptr + i * 92;
    const tagsPtr = dv.getUint32(b + 64, true);
    const tagsLen = dv.getUint32(b + 68, true);
    assert.equal(tagsPtr % 4, 0, 'the acl-tags list is aligned');
    const aclTags = [];
    for (let t = 0; t < tagsLen; t++) aclTags.push(text(tagsPtr + t * 8));
    out.push({
      recordId: text(b),
      recordType: TYPES[dv.getUint8(b + 8)],
      sourceInstance: text(b + 12),
      provenance: { uri: text(b + 20), etag: opt(b + 28), lastModified: opt(b + 40), author: opt(b + 52) },
      aclTags,
      raw: text(b + 72),
      metadata: opt(b + 80),
    });
  }
  return out;
}

function draft(i, extra = {}) {
  return {
    recordId: `fc-${i}`,
    recordType: 'claim',
    sourceInstance: 'factcheck.example.org',
    provenance: { uri: `file:///feeds/f.jsonl#fc-${i}`, etag: undefined, lastModified: '2026-01-01T00:00:00Z', author: 'a@example.org' },
    aclTags: [],
    raw: `{"id":"fc-${i}","n":${i}}`,
    metadata: undefined,
    ...extra,
  };
}

/** What the host would read for `drafts` written by the patched lowering. */
function roundTrip(drafts) {
  const g = guest();
  const { _lowerEnvelopeDrafts } = helpers();
  const ptr = _lowerEnvelopeDrafts(drafts, g.realloc, g.memory);
  return { read: lift(g.memory, ptr, drafts.length), g };
}

/** The drafts as the host would see them: null options are none. */
function expected(drafts) {
  const none = (v) => (v === null ? undefined : v);
  return drafts.map((d) => ({
    recordId: d.recordId,
    recordType: d.recordType,
    sourceInstance: d.sourceInstance,
    provenance: {
      uri: d.provenance.uri,
      etag: none(d.provenance.etag),
      lastModified: none(d.provenance.lastModified),
      author: none(d.provenance.author),
    },
    aclTags: d.aclTags,
    raw: d.raw.replace(/[\ud800-\udfff]/gu, (c) => (c.length === 1 ? '\ufffd' : c)),
    metadata: none(d.metadata),
  }));
}

test('drafts: an ASCII page reads back the same, with one block for all its strings', () => {
  const drafts = Array.from({ length: 1000 }, (_, i) => draft(i));
  const { read, g } = roundTrip(drafts);
  assert.deepEqual(read, expected(drafts));
  // The strings' block, its shrink, and the list: not an allocation per string.
  assert.equal(g.calls.length, 3, JSON.stringify(g.calls.slice(0, 5)));
});

test('drafts: non-ASCII text, surrogate pairs, a lone surrogate, empty strings, options, tags and metadata', () => {
  const drafts = [
    draft(1, { raw: '{"claim":"Die Brücke über die Aldersee","x":"北浜市","e":"😀"}' }),
    draft(2, { recordId: 'ü/2 #?', provenance: { uri: 'file:///f#%C3%BC', etag: 'W/"1"', lastModified: null, author: 'Ä. Ñ' } }),
    draft(3, { raw: '"lone \ud800 surrogate"', metadata: '{"k":"v"}', aclTags: ['a', 'bé'] }),
    draft(4, { sourceInstance: '', provenance: { uri: '', etag: '', lastModified: undefined, author: undefined } }),
    draft(5, { recordType: 'document', aclTags: ['only'] }),
    draft(6, { recordType: 'metric' }),
    draft(7, { recordType: 'event', metadata: null }),
    draft(8, { recordType: 'entity', raw: '{}' }),
  ];
  const { read } = roundTrip(drafts);
  assert.deepEqual(read, expected(drafts));
  assert.equal(read[2].raw, '"lone \ufffd surrogate"', 'a lone surrogate becomes U+FFFD, as TextEncoder writes it');
});

test('drafts: strings shared with the draft before and a page that grows memory read back the same', () => {
  const long = 'é'.repeat(40000);
  const drafts = Array.from({ length: 30 }, (_, i) => draft(i % 3, { raw: `{"t":"${long}${i % 2}"}` }));
  const { read } = roundTrip(drafts);
  assert.deepEqual(read, expected(drafts));
});

test('drafts: an empty page is an empty list', () => {
  const g = guest();
  const { _lowerEnvelopeDrafts } = helpers();
  const ptr = _lowerEnvelopeDrafts([], g.realloc, g.memory);
  assert.equal(typeof ptr, 'number');
  assert.deepEqual(lift(g.memory, ptr, 0), []);
});

test('drafts: values the generated code refuses are refused with its TypeErrors', () => {
  const g = guest();
  const { _lowerEnvelopeDrafts } = helpers();
  const lower = (d) => () => _lowerEnvelopeDrafts([draft(0), d], g.realloc, g.memory);
  assert.throws(lower(draft(1, { recordType: 'issue' })), { name: 'TypeError', message: '"issue" is not one of the cases of record-type' });
  assert.throws(lower(draft(1, { raw: undefined })), { name: 'TypeError', message: 'expected a string, received [undefined]' });
  assert.throws(lower(draft(1, { recordId: 7 })), { name: 'TypeError', message: 'expected a string, received [number]' });
  assert.throws(lower(draft(1, { metadata: {} })), { name: 'TypeError', message: 'expected a string, received [object]' });
  assert.throws(lower(draft(1, { provenance: { uri: 'u', author: 3 } })), { name: 'TypeError' });
  assert.throws(lower(draft(1, { aclTags: [1] })), { name: 'TypeError', message: 'expected a string, received [number]' });
});

test('patches: applied to bindings of the known shape, refused otherwise', () => {
  const generated =
    'const TEXT_ENCODER_UTF8 = new TextEncoder();\n' +
    'function _utf8AllocateAndEncode(s, realloc, memory) {\n  for (let i = 0; i < s.length; i++) {\n  }\n}\n' +
    `${DRAFTS_FUNCTION}arg0) {\n${DRAFTS_START}\n  something else\n${DRAFTS_END}}\n`;
  assert.match(patchStrings(generated), /Patched by guests\/js\/tools\/bindings-patches\.mjs/);
  assert.throws(() => patchStrings('no such function'), /exactly one `_utf8AllocateAndEncode`/);
  // The drafts' block must be the one componentize-js 0.23.0 writes, byte for byte.
  assert.throws(() => patchDrafts(generated), /not the one of componentize-js 0\.23\.0/);
  assert.throws(() => patchDrafts('no such function'), /CONNECTOR_JS_DRAFTS_FIX=off/);
});
