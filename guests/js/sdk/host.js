// The host's imports, as the rest of the SDK reaches them.
//
// The SDK never imports the WIT interfaces itself: `sdk/wit.js` does, and hands them
// to `bindHost`. The build script puts `sdk/wit.js` before the connector, so inside
// the component the SDK talks to the real host; a unit test under Node (which cannot
// resolve `partner:connector/...`) binds fakes instead (see `test/fake-host.js`).

let bound = null;

/**
 * Binds the SDK to the host's imports: `{ http: {send}, config: {get}, log: {log},
 * state: {get, set, delete}, preopens: {getDirectories} }` (any part may be left out
 * by a test that does not need it). Returns the previous binding.
 */
export function bindHost(imports) {
  const previous = bound;
  bound = imports;
  return previous;
}

/** The bound imports; throws when there are none (a test that forgot `bindHost`). */
export function host() {
  if (bound === null) {
    throw new Error(
      'the connector SDK is not bound to a host: build the connector with guests/js/build.sh ' +
        '(which binds the WIT imports), or call bindHost(...) with fakes in a test',
    );
  }
  return bound;
}

/** One part of the bound imports (`http`, `config`, ...), checked. */
export function hostPart(name) {
  const part = host()[name];
  if (part === undefined) throw new Error(`the bound host has no \`${name}\` import`);
  return part;
}
