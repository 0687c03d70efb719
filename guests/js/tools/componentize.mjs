// Builds one connector component with componentize-js: `node tools/componentize.mjs
// ENTRY.js OUT.wasm`, run from guests/js or a staging directory (build.sh does both).
// The entry module and everything it imports must lie under the current directory,
// which componentize-js maps as `/` while it snapshots the module.
//
// Before building it applies two fixes to the JavaScript bindings that componentize-js
// 0.23.0 generates (tools/bindings-patches.mjs: the UTF-8 encoding of strings, and the
// lowering of list-drafts' drafts), and refuses to build if the bindings no longer hold
// what they replace, so that an upgrade cannot drop a fix silently. Set
// CONNECTOR_JS_STRING_FIX=off or CONNECTOR_JS_DRAFTS_FIX=off to build without one.

import { componentize } from '@bytecodealliance/componentize-js';
import { splicer } from '../node_modules/@bytecodealliance/componentize-js/lib/spidermonkey-embedding-splicer.js';
import { rename, writeFile } from 'node:fs/promises';
import { patchDrafts, patchStrings } from './bindings-patches.mjs';
import { fileURLToPath } from 'node:url';

const [entry, out] = process.argv.slice(2);
if (!entry || !out) {
  console.error('usage: node tools/componentize.mjs ENTRY.js OUT.wasm');
  process.exit(2);
}

// The fixes (tools/bindings-patches.mjs) wrap the splicer's `spliceBindings` in this
// process, so node_modules is never edited and `npm ci` cannot undo them. Each refuses
// to build if the bindings no longer hold what it replaces.
const fixes = [];
if ((process.env.CONNECTOR_JS_STRING_FIX ?? 'on').toLowerCase() !== 'off') fixes.push(patchStrings);
if ((process.env.CONNECTOR_JS_DRAFTS_FIX ?? 'on').toLowerCase() !== 'off') fixes.push(patchDrafts);
if (fixes.length > 0) {
  const spliceBindings = splicer.spliceBindings;
  splicer.spliceBindings = (...args) => {
    const spliced = spliceBindings(...args);
    return { ...spliced, jsBindings: fixes.reduce((js, fix) => fix(js), spliced.jsBindings) };
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
