// Build-time fixes to the JavaScript bindings that componentize-js 0.23.0 generates
// for the world `partner:connector@1.1.0` (`connector`). tools/componentize.mjs applies
// them to the splicer's output before the engine snapshot; test/bindings-patches.test.js
// runs the replacement code under Node against a reference reader of the canonical ABI.
//
// Each fix replaces generated text that it first finds exactly (a marker, or the
// SHA-256 of a whole block), so that a new componentize-js (or a change to the WIT)
// stops the build with a message instead of dropping or misapplying a fix.
//
// 1. STRINGS: `_utf8AllocateAndEncode` measures the UTF-8 length of every string in a
//    JavaScript loop, one UTF-16 unit at a time, in an interpreter (the engine has no
//    JIT inside wasm). The replacement lets the engine's native encoder do the work.
// 2. DRAFTS: the lowering of `list-drafts`' `list<envelope-draft>` (what ingest calls
//    once a page) makes an allocation for each string and each list and about 40
//    `DataView` calls per draft, and each `dataView($memory)` reads two `buffer`
//    getters. The replacement reads each draft once, writes every string of the page
//    into one allocation (the short ones, ids, URIs and times, in one native call when
//    they are all ASCII; a source instance equal to the draft before's once, shared:
//    the host copies each string), and the 92-byte records through one `Uint32Array`
//    view. The host reads the same values as from the generated code (an empty list's
//    pointer and the padding bytes aside).

import { createHash } from 'node:crypto';

export const STRINGS_START = 'function _utf8AllocateAndEncode(s, realloc, memory) {';
const STRINGS_BODY_MARK = 'for (let i = 0; i < s.length; i++) {';

export const STRINGS_REPLACEMENT = `function _utf8AllocateAndEncode(s, realloc, memory) {
  if (typeof s !== 'string') {
    throw new TypeError('expected a string, received [' + typeof s + ']');
  }
  if (s.length === 0) { return { ptr: 1, len: 0 }; }
  // Patched by guests/js/tools/bindings-patches.mjs (connector JS kit): every UTF-16
  // unit takes at least one UTF-8 byte, and only ASCII takes exactly one, so a string
  // that encodes whole into s.length bytes is ASCII and that is its length.
  let ptr = realloc(0, 0, 1, s.length);
  const { read } = TEXT_ENCODER_UTF8.encodeInto(s, new Uint8Array(memory.buffer, ptr, s.length));
  if (read === s.length) { return { ptr, len: s.length }; }
  const bytes = TEXT_ENCODER_UTF8.encode(s);
  ptr = realloc(ptr, s.length, 1, bytes.length);
  new Uint8Array(memory.buffer, ptr, bytes.length).set(bytes);
  return { ptr, len: bytes.length };
}
`;

/** The function whose body holds the drafts' lowering. */
export const DRAFTS_FUNCTION = 'async function export_source_1_1_0$listDrafts(';
/** Where the generated lowering of `drafts` starts and ends, inside that function. */
export const DRAFTS_START = '      var vec22 = v4_0;';
export const DRAFTS_END = '      dataView($memory).setUint32(arg5 + 8, result22, true);\n';
/** The SHA-256 of the generated block (DRAFTS_START to DRAFTS_END) of componentize-js 0.23.0. */
export const DRAFTS_SHA256 = '872c2f8f0b9f78a8a3c163812016c1b06ba9d6db5ab707fd08bdd66c03cc89eb';

export const DRAFTS_CALL = `      var vec22 = v4_0;
      var len22 = vec22.length;
      var result22 = _lowerEnvelopeDrafts(vec22, $realloc, $memory);
      dataView($memory).setUint32(arg5 + 12, len22, true);
      dataView($memory).setUint32(arg5 + 8, result22, true);
`;

// The layout of an `envelope-draft` in the canonical ABI (32-bit, little-endian): 92
// bytes, aligned to 4, as 23 words. A string is (ptr, len); an option is a
// discriminant word, then its string; a list is (ptr, len); the enum is a byte.
//   0 record-id      2 record-type    3 source-instance   5 provenance.uri
//   7 etag?          10 last-modified?  13 author?        16 acl-tags
//   18 raw           20 metadata?
export const DRAFTS_FUNCTION_SOURCE = `
// Patched in by guests/js/tools/bindings-patches.mjs (connector JS kit): lowers a
// list<envelope-draft> with one allocation for the strings of the whole page. The
// engine interprets this code (no JIT inside wasm), so it does as few operations a
// draft as it can and leaves the bytes to native calls.
function _lowerEnvelopeDrafts(vec, realloc, memory) {
  const n = vec.length;
  if (n === 0) { return realloc(0, 0, 4, 0); }
  const bad = (v) => new TypeError('expected a string, received [' + typeof v + ']');
  // The short strings of each draft (record-id, source-instance, uri, etag,
  // last-modified, author, metadata) go into one string, encoded at once; a
  // source-instance equal to the draft before's is written once. The raws are
  // encoded one by one after them.
  const SHORT = 7;
  const shorts = new Array(n * SHORT);
  const raws = new Array(n);
  const types = new Uint8Array(n);
  const parts = [];
  let units = 0;
  let tagged = null;
  let lastInstance = null;
  for (let i = 0; i < n; i++) {
    const { recordId, recordType, sourceInstance, provenance, aclTags, raw, metadata } = vec[i];
    const { uri, etag, lastModified, author } = provenance;
    if (typeof recordId !== 'string') { throw bad(recordId); }
    if (typeof sourceInstance !== 'string') { throw bad(sourceInstance); }
    if (typeof uri !== 'string') { throw bad(uri); }
    if (typeof raw !== 'string') { throw bad(raw); }
    const k = i * SHORT;
    shorts[k] = recordId;
    parts.push(recordId);
    shorts[k + 1] = sourceInstance;
    if (sourceInstance !== lastInstance) { parts.push(sourceInstance); lastInstance = sourceInstance; }
    shorts[k + 2] = uri;
    parts.push(uri);
    units += recordId.length + sourceInstance.length + uri.length + raw.length;
    if (etag !== undefined && etag !== null) {
      if (typeof etag !== 'string') { throw bad(etag); }
      shorts[k + 3] = etag; parts.push(etag); units += etag.length;
    }
    if (lastModified !== undefined && lastModified !== null) {
      if (typeof lastModified !== 'string') { throw bad(lastModified); }
      shorts[k + 4] = lastModified; parts.push(lastModified); units += lastModified.length;
    }
    if (author !== undefined && author !== null) {
      if (typeof author !== 'string') { throw bad(author); }
      shorts[k + 5] = author; parts.push(author); units += author.length;
    }
    if (metadata !== undefined && metadata !== null) {
      if (typeof metadata !== 'string') { throw bad(metadata); }
      shorts[k + 6] = metadata; parts.push(metadata); units += metadata.length;
    }
    raws[i] = raw;
    switch (recordType) {
      case 'document': types[i] = 0; break;
      case 'event': types[i] = 1; break;
      case 'entity': types[i] = 2; break;
      case 'claim': types[i] = 3; break;
      case 'metric': types[i] = 4; break;
      default: throw new TypeError(\`"\${recordType}" is not one of the cases of record-type\`);
    }
    if (aclTags.length !== 0) { (tagged ??= []).push(i); }
  }
  // Every UTF-16 unit takes at most 3 UTF-8 bytes (a surrogate pair, 2 units, takes 4).
  const bound = units * 3;
  let block = 0;
  // Where each short string and each raw starts in the block, and its length in bytes.
  const at = new Int32Array(n * SHORT);
  const len = new Int32Array(n * SHORT);
  const rawAt = new Int32Array(n);
  const rawLen = new Int32Array(n);
  if (bound > 0) {
    block = realloc(0, 0, 1, bound);
    const bytes = new Uint8Array(memory.buffer, block, bound);
    const joined = parts.join('');
    const whole = TEXT_ENCODER_UTF8.encodeInto(joined, bytes);
    let used = 0;
    if (whole.read === joined.length && whole.written === joined.length) {
      // All ASCII: each string's bytes are where its characters are in the joined string.
      lastInstance = null;
      for (let i = 0, k = 0; i < n; i++, k += SHORT) {
        let s = shorts[k];
        at[k] = used; len[k] = s.length; used += s.length;
        s = shorts[k + 1];
        if (s !== lastInstance) { at[k + 1] = used; len[k + 1] = s.length; used += s.length; lastInstance = s; }
        else { at[k + 1] = at[k + 1 - SHORT]; len[k + 1] = s.length; }
        for (let f = k + 2; f < k + SHORT; f++) {
          s = shorts[f];
          if (s !== undefined) { at[f] = used; len[f] = s.length; used += s.length; }
        }
      }
    } else {
      for (let f = 0; f < n * SHORT; f++) {
        const s = shorts[f];
        if (s === undefined) { continue; }
        const r = TEXT_ENCODER_UTF8.encodeInto(s, bytes.subarray(used, used + s.length * 3));
        at[f] = used; len[f] = r.written; used += r.written;
      }
    }
    for (let i = 0; i < n; i++) {
      const s = raws[i];
      const r = TEXT_ENCODER_UTF8.encodeInto(s, bytes.subarray(used, used + s.length * 3));
      rawAt[i] = used; rawLen[i] = r.written; used += r.written;
    }
    // Give back what the bound overestimated (the contents move with the block).
    if (used < bound) { block = realloc(block, bound, 1, used); }
  }
  // The acl-tags lists that are not empty, each lowered as the generated code does.
  let tagLists = null;
  if (tagged !== null) {
    tagLists = new Map();
    for (const i of tagged) {
      const tags = vec[i].aclTags;
      const encoded = [];
      for (let t = 0; t < tags.length; t++) { encoded.push(_utf8AllocateAndEncode(tags[t], realloc, memory)); }
      const list = realloc(0, 0, 4, tags.length * 8);
      const w = new Uint32Array(memory.buffer, list, tags.length * 2);
      for (let t = 0; t < encoded.length; t++) { w[t * 2] = encoded[t].ptr; w[t * 2 + 1] = encoded[t].len; }
      tagLists.set(i, list);
    }
  }
  const out = realloc(0, 0, 4, n * 92);
  // No allocation after this point: the view stays valid. A draft is 23 words:
  // 0 record-id, 2 record-type, 3 source-instance, 5 uri, 7 etag?, 10 last-modified?,
  // 13 author?, 16 acl-tags, 18 raw, 20 metadata? (an option: its case, then its
  // string). An empty string is (1, 0), as the generated code writes it.
  const mem = new Uint32Array(memory.buffer);
  for (let i = 0, k = 0, w = out >>> 2; i < n; i++, k += SHORT, w += 23) {
    mem[w] = (len[k] === 0 ? 1 : block + at[k]); mem[w + 1] = len[k];
    mem[w + 2] = types[i];
    mem[w + 3] = (len[k + 1] === 0 ? 1 : block + at[k + 1]); mem[w + 4] = len[k + 1];
    mem[w + 5] = (len[k + 2] === 0 ? 1 : block + at[k + 2]); mem[w + 6] = len[k + 2];
    if (shorts[k + 3] === undefined) { mem[w + 7] = 0; } else { mem[w + 7] = 1; mem[w + 8] = (len[k + 3] === 0 ? 1 : block + at[k + 3]); mem[w + 9] = len[k + 3]; }
    if (shorts[k + 4] === undefined) { mem[w + 10] = 0; } else { mem[w + 10] = 1; mem[w + 11] = (len[k + 4] === 0 ? 1 : block + at[k + 4]); mem[w + 12] = len[k + 4]; }
    if (shorts[k + 5] === undefined) { mem[w + 13] = 0; } else { mem[w + 13] = 1; mem[w + 14] = (len[k + 5] === 0 ? 1 : block + at[k + 5]); mem[w + 15] = len[k + 5]; }
    if (tagLists === null || !tagLists.has(i)) { mem[w + 16] = 4; mem[w + 17] = 0; } else { mem[w + 16] = tagLists.get(i); mem[w + 17] = vec[i].aclTags.length; }
    mem[w + 18] = rawLen[i] === 0 ? 1 : block + rawAt[i]; mem[w + 19] = rawLen[i];
    if (shorts[k + 6] === undefined) { mem[w + 20] = 0; } else { mem[w + 20] = 1; mem[w + 21] = (len[k + 6] === 0 ? 1 : block + at[k + 6]); mem[w + 22] = len[k + 6]; }
  }
  return out;
}
`;

/** `bindings` with the string fix applied; throws if the function is not there exactly once. */
export function patchStrings(bindings) {
  const start = bindings.indexOf(STRINGS_START);
  if (start === -1 || bindings.indexOf(STRINGS_START, start + 1) !== -1) {
    throw new Error(
      'componentize-js generated bindings without exactly one `_utf8AllocateAndEncode`: ' +
        'this build script knows the bindings of componentize-js 0.23.0; check the fixes in ' +
        'guests/js/tools/bindings-patches.mjs against the new version (or set CONNECTOR_JS_STRING_FIX=off)',
    );
  }
  // The function ends at the first line that is a lone `}` after its start.
  const end = bindings.indexOf('\n}\n', start);
  const original = bindings.slice(start, end + 3);
  if (end === -1 || !original.includes(STRINGS_BODY_MARK)) {
    throw new Error('`_utf8AllocateAndEncode` does not look as in componentize-js 0.23.0; not patching it');
  }
  return bindings.slice(0, start) + STRINGS_REPLACEMENT + bindings.slice(end + 3);
}

/** `bindings` with the drafts' lowering replaced; throws unless the generated block is the known one. */
export function patchDrafts(bindings) {
  const fn = bindings.indexOf(DRAFTS_FUNCTION);
  const start = fn === -1 ? -1 : bindings.indexOf(DRAFTS_START, fn);
  const end = start === -1 ? -1 : bindings.indexOf(DRAFTS_END, start);
  const block = end === -1 ? '' : bindings.slice(start, end + DRAFTS_END.length);
  const sha = createHash('sha256').update(block).digest('hex');
  if (sha !== DRAFTS_SHA256) {
    throw new Error(
      'the lowering of list-drafts in the bindings componentize-js generated is not the one of ' +
        'componentize-js 0.23.0 for wit/v1.1 (sha256 ' + sha + '): check the fix in ' +
        'guests/js/tools/bindings-patches.mjs against the new version (or set CONNECTOR_JS_DRAFTS_FIX=off)',
    );
  }
  const patched = bindings.slice(0, start) + DRAFTS_CALL + bindings.slice(end + DRAFTS_END.length);
  // The helper goes before the export function (it uses TEXT_ENCODER_UTF8, defined above).
  return patched.slice(0, fn) + DRAFTS_FUNCTION_SOURCE.trimStart() + '\n' + patched.slice(fn);
}
