// Builds one connector component with componentize-js: `node tools/componentize.mjs
// ENTRY.js OUT.wasm`, run from guests/js or a staging directory (build.sh does both).
// The entry module and everything it imports must lie under the current directory,
// which componentize-js maps as `/` while it snapshots the module.
//
// Before building it applies one fix to the JavaScript bindings that componentize-js
// 0.23.0 generates (see FIX below), and refuses to build if the bindings no longer
// hold the function it replaces, so that an upgrade cannot drop the fix silently.
// Set CONNECTOR_JS_STRING_FIX=off to build with the bindings as generated.

import { componentize } from '@bytecodealliance/componentize-js';
import { splicer } from '../node_modules/@bytecodealliance/componentize-js/lib/spidermonkey-embedding-splicer.js';
import { rename, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const [entry, out] = process.argv.slice(2);
if (!entry || !out) {
  console.error('usage: node tools/componentize.mjs ENTRY.js OUT.wasm');
  process.exit(2);
}

// FIX: the generated `_utf8AllocateAndEncode` lowers every string the guest hands the
// host (each record's `raw`, id, URI ...) by first measuring its UTF-8 length in a
// JavaScript loop, one UTF-16 unit at a time, in an interpreter (the engine has no
// JIT inside wasm). The replacement lets the engine's native encoder do the work:
// ASCII text (most JSON) is encoded straight into guest memory in one native call; any
// other text is encoded once natively and copied. The result is the same bytes and
// the same length; a lone surrogate still becomes U+FFFD, as with `encodeInto`.
const ORIGINAL_START = 'function _utf8AllocateAndEncode(s, realloc, memory) {';
const ORIGINAL_BODY_MARK = 'for (let i = 0; i < s.length; i++) {';
const REPLACEMENT = `function _utf8AllocateAndEncode(s, realloc, memory) {
  if (typeof s !== 'string') {
    throw new TypeError('expected a string, received [' + typeof s + ']');
  }
  if (s.length === 0) { return { ptr: 1, len: 0 }; }
  // Patched by guests/js/tools/componentize.mjs (connector JS kit): every UTF-16 unit
  // takes at least one UTF-8 byte, and only ASCII takes exactly one, so a string that
  // encodes whole into s.length bytes is ASCII and that is its length.
  let ptr = realloc(0, 0, 1, s.length);
  const { read } = TEXT_ENCODER_UTF8.encodeInto(s, new Uint8Array(memory.buffer, ptr, s.length));
  if (read === s.length) { return { ptr, len: s.length }; }
  const bytes = TEXT_ENCODER_UTF8.encode(s);
  ptr = realloc(ptr, s.length, 1, bytes.length);
  new Uint8Array(memory.buffer, ptr, bytes.length).set(bytes);
  return { ptr, len: bytes.length };
}
`;

/** `bindings` with the slow function replaced; throws if it is not there exactly once. */
function patchBindings(bindings) {
  const start = bindings.indexOf(ORIGINAL_START);
  if (start === -1 || bindings.indexOf(ORIGINAL_START, start + 1) !== -1) {
    throw new Error(
      'componentize-js generated bindings without exactly one `_utf8AllocateAndEncode`: ' +
        'this build script knows the bindings of componentize-js 0.23.0; check the fix in ' +
        'guests/js/tools/componentize.mjs against the new version (or set CONNECTOR_JS_STRING_FIX=off)',
    );
  }
  // The function ends at the first line that is a lone `}` after its start.
  const end = bindings.indexOf('\n}\n', start);
  const original = bindings.slice(start, end + 3);
  if (end === -1 || !original.includes(ORIGINAL_BODY_MARK)) {
    throw new Error('`_utf8AllocateAndEncode` does not look as in componentize-js 0.23.0; not patching it');
  }
  return bindings.slice(0, start) + REPLACEMENT + bindings.slice(end + 3);
}

const fix = (process.env.CONNECTOR_JS_STRING_FIX ?? 'on').toLowerCase();
if (fix !== 'off') {
  const spliceBindings = splicer.spliceBindings;
  splicer.spliceBindings = (...args) => {
    const spliced = spliceBindings(...args);
    return { ...spliced, jsBindings: patchBindings(spliced.jsBindings) };
  };
}

let component;
try {
  ({ component } = await componentize({
    sourcePath: entry,
    witPath: fileURLToPath(new URL('../../../wit/v1.1', import.meta.url)),
    worldName: 'connector',
    // The default features import wasi:http (for `fetch`), which the host does not
    // provide: a connector's only network is partner:connector/http.
    disableFeatures: ['http', 'fetch-event'],
  }));
} catch (e) {
  // componentize-js's own messages say what is wrong (a missing `source` export, a
  // host call at the module's top level); its stack trace would only bury them.
  console.error(`error: building ${entry} failed:\n${e?.message ?? e}`);
  process.exit(1);
}

// Written beside the target, then renamed: a failed build never leaves half a file.
const partial = `${out}.partial`;
await writeFile(partial, component);
await rename(partial, out);
