#!/usr/bin/env bash
# Builds {{name}}.wasm (a WASI component for partner:connector@1.0.0) and writes its
# declared capabilities (capabilities.toml) into it with `host package`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

command -v cargo >/dev/null 2>&1 || { echo "error: cargo is not on PATH; install Rust 1.95+ (https://rustup.rs)" >&2; exit 1; }
if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -qx wasm32-wasip2; then
  echo "error: the wasm32-wasip2 target is missing: rustup target add wasm32-wasip2" >&2
  exit 1
fi
command -v host >/dev/null 2>&1 || { echo "error: \`host\` is not on PATH (the connector host's binary)" >&2; exit 1; }

start=$(date +%s)
cargo build --release --target wasm32-wasip2
cp "${CARGO_TARGET_DIR:-target}/wasm32-wasip2/release/{{name_snake}}.wasm" {{name}}.wasm
host package {{name}}.wasm --capabilities capabilities.toml
echo "built {{name}}.wasm ($(wc -c <{{name}}.wasm) bytes) in $(( $(date +%s) - start )) s" >&2
