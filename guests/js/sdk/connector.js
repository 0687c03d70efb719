// The JavaScript connector SDK for `partner:connector@1.1.0`: what a connector imports.
//
//   import { defineConnector, settings, http, log, NotFound } from '../../sdk/connector.js';
//   export const source = defineConnector({ sourceName: 'mine', listRecords, toEnvelopes });
//
// The same shape as the Rust SDK (guests/sdk): the connector writes `sourceName`,
// `listRecords({cursor, limit})` (records, `nextCursor`, `skipped`), optionally
// `getRecord(id)`, and `toEnvelopes(records)`; the SDK exports the WIT `source`
// interface from them, `list-drafts` included (one crossing per page), and turns every
// exception into a `connector-error` value, so that nothing a connector throws traps.
//
// The export must be called `source`. The modules behind this one:
//   errors.js    the `connector-error` cases as classes (NotFound, RateLimited, Api, ...)
//   source.js    defineConnector: the exports, the derived list-drafts, shape checks
//   settings.js  config readers with the Rust SDK's rules and wording
//   http.js      HTTP through the host's egress (`http.get(url, {headers, timeoutMs})`)
//   files.js     granted directories through wasi:filesystem (`files.lines(path)`)
//   paging.js    page sizes, offset cursors, findRecord, Link headers
//   log.js       log lines and state kept by the host
//   host.js      the binding to the host's imports (`bindHost`, for tests)
//   wit.js       the real imports; the build script loads it, a connector never does

export {
  ConnectorError,
  Auth,
  RateLimited,
  Timeout,
  Network,
  NotFound,
  Api,
  InvalidConfig,
  Parse,
  Quota,
  CircuitOpen,
  Denied,
  Unsupported,
  Other,
  MAX_MESSAGE,
  asConnectorError,
  toWitError,
  withContext,
  bounded,
} from './errors.js';
export { defineConnector } from './source.js';
export { settings, ConfigReader, fromPairs, missing, badValue } from './settings.js';
export { http, request, Response } from './http.js';
export { files, File, LineReader, CHUNK_BYTES, resetPreopens } from './files.js';
export { pageLimit, badCursor, offsetCursor, parseOffsetCursor, pageOfArray, findRecord, linkNext, resolveUrl } from './paging.js';
export { log, state } from './log.js';
export { bindHost } from './host.js';
