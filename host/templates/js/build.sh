#!/usr/bin/env bash
# Builds {{name}}.wasm (a WASI component for partner:connector@1.1.0) with the
# JavaScript kit's build script, and writes its declared capabilities
# (capabilities.toml) into it with `host package`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

command -v host >/dev/null 2>&1 || { echo "error: \`host\` is not on PATH (the connector host's binary)" >&2; exit 1; }

"{{kit}}/js/build.sh" "$PWD" {{name}}.wasm
host package {{name}}.wasm --capabilities capabilities.toml
