// Logging into the host's log and the connector's small persistent state.
//
// Log lines are rate-limited, cut and escaped by the host; a connector need not
// bound them itself. `console.log` also reaches the host's log (through stdout), but
// without a level.

import { hostPart } from './host.js';

function line(level, message) {
  hostPart('log').log(level, typeof message === 'string' ? message : String(message));
}

/** Writes to the host's log at a level: `log.info("read 20 records")`. */
export const log = {
  trace: (message) => line('trace', message),
  debug: (message) => line('debug', message),
  info: (message) => line('info', message),
  warn: (message) => line('warn', message),
  error: (message) => line('error', message),
};

/**
 * Small key-value state kept by the host across runs (an ETag, a high-water mark),
 * bounded by the host (`limits.state_bytes`). Values are strings.
 */
export const state = {
  /** The value under `key`, or undefined. */
  get: (key) => hostPart('state').get(String(key)) ?? undefined,
  /** Stores `value` (a string) under `key`. */
  set: (key, value) => hostPart('state').set(String(key), String(value)),
  /** Removes `key`, if present. */
  delete: (key) => hostPart('state').delete(String(key)),
};
