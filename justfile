# The connector host's tasks. `just --list` shows them.

set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes.
default:
    @just --list

# Build every example connector: guests/<name>.wasm beside guests/<name>.toml.
build-guests:
    rustup target add wasm32-wasip2 2>/dev/null || rustup target list --installed | grep -qx wasm32-wasip2
    cd guests && cargo build --release
    for wasm in guests/target/wasm32-wasip2/release/*.wasm; do \
        name=$(basename "$wasm" .wasm); \
        if [ -f "guests/$name.toml" ]; then cp "$wasm" "guests/$name.wasm"; echo "guests/$name.wasm"; fi; \
    done

# Build the host (release).
build:
    cargo build --release -p host

# Run the file connector on the sample feed: envelopes to .host/demo.jsonl, then twice
# into the embedded store (.host/state.db), where the second run finds nothing changed.
demo: build-guests build
    mkdir -p .host
    ./target/release/host inspect guests/file.wasm
    ./target/release/host run guests/file.wasm --out .host/demo.jsonl --report .host/demo-report.json
    @echo "first envelope of .host/demo.jsonl:"
    @head -n 1 .host/demo.jsonl
    ./target/release/host validate .host/demo.jsonl
    rm -f .host/state.db .host/state.db-wal .host/state.db-shm
    ./target/release/host run guests/file.wasm --store
    ./target/release/host run guests/file.wasm --store
    @echo "the queue of published changes holds $(./target/release/host queue --limit 1000 | wc -l) entries"
    ./target/release/host status file

# `host serve` with examples/connectors.toml, and examples/api served on 127.0.0.1:8089 for
# its http-json connector. Ctrl-C stops both.
serve-demo: build-guests build
    mkdir -p .host
    python3 -m http.server 8089 --bind 127.0.0.1 --directory examples/api >/dev/null 2>&1 & \
    api=$!; trap 'kill $api' EXIT; \
    ./target/release/host serve --config examples/connectors.toml

# Build the guests and the host, then run every test: the guests' own unit tests
# (natively), then the host's unit tests and the end-to-end suite.
test: build-guests
    cd guests && cargo test --quiet --workspace --target "$(rustc -vV | sed -n 's/^host: //p')"
    cargo build -p host
    cargo test --workspace

# Formatting and clippy, warnings as errors (host, tests and guests).
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --all-features -- -D warnings
    cd guests && cargo fmt --all -- --check && cargo clippy --all-targets -- -D warnings
    cd tests/guests && cargo fmt --all -- --check && cargo clippy --all-targets -- -D warnings

# Benchmarks: the sandboxed file connector against a native baseline, side by side,
# then into SQLite and PostgreSQL stores and over loopback HTTP.
bench records="200000": build-guests
    cargo build --release -p host -p tests --bins --features tests/bench
    ./target/release/bench --records {{records}}

# The daemon at scale: N file connectors polled every 10 s, on SQLite, on PostgreSQL,
# and shared by three hosts on PostgreSQL (runs/s, lag, RSS, CPU, descriptors, takeover).
bench-serve connectors="1000" seconds="120": build-guests
    cargo build --release -p host -p tests --bins --features tests/bench
    ./target/release/bench-serve --connectors {{connectors}} --seconds {{seconds}}

# Three ways to commit a page to PostgreSQL (the store's unnest, a statement per
# record, COPY and a merge), on the same records.
bench-pg-commit records="200000":
    cargo build --release -p tests --bin bench-pg-commit --features tests/bench
    ./target/release/bench-pg-commit --records {{records}}
