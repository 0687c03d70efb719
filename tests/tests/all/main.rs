//! End-to-end tests: real components built from `guests/` and `tests/guests/`, run
//! by the real `host` binary (and, where a test needs the inside view, the library).

mod cache;
mod check;
mod cluster;
mod connectors;
mod credentials;
mod cursor_reset;
mod docs;
mod errors;
mod file_connector;
mod http;
mod http_json_apis;
mod jcs;
mod partner_js;
mod partner_kit;
mod partner_python;
mod postgres_server;
mod repeated_ids;
mod sandbox;
mod schemas;
mod sealing;
mod serve;
mod serve_bounds;
mod store;
mod tutorial;
