// Binds the SDK to the host's real imports (`partner:connector@1.1.0` and the
// `wasi:filesystem` preopens of its world). Only the component loads this file: the
// build script's entry module imports it before the connector. Nothing here runs a
// host call: the module's top level runs when the component is built (componentize-js
// snapshots it), and the host is only there when it runs.

import * as http from 'partner:connector/http@1.1.0';
import * as config from 'partner:connector/config@1.1.0';
import * as log from 'partner:connector/log@1.1.0';
import * as state from 'partner:connector/state@1.1.0';
import * as preopens from 'wasi:filesystem/preopens@0.2.12';

import { bindHost } from './host.js';

bindHost({ http, config, log, state, preopens });
