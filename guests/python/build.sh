#!/usr/bin/env bash
# Builds a Python connector into a WebAssembly component with componentize-py.
#
#   guests/python/build.sh EXAMPLE OUT.wasm
#
# EXAMPLE is the name of a directory under guests/python/examples/ (`file`, `rest`,
# `faulty`) or the path of any connector directory: a directory with an `app.py` whose
# `Source = connector_sdk.export(...)` is the component's export. The connector is
# built against `wit/v1.1` (`partner:connector@1.1.0`), world `columnar-connector`
# when app.py also says `Columnar = Source.Columnar` or defines a class `Columnar`
# (the same pages as columns, which the host takes for ingest: much cheaper to hand
# over), else `connector`.
#
# The sources (the connector's directory and `connector_sdk/`) are copied into a
# fresh build directory first: componentize-py runs the app's imports inside its
# Python while it builds, and that Python writes `__pycache__` into every directory on
# its path (and reads stale ones back), which must not touch the source tree. The
# host's site-packages are kept out of the component (see README.md, "Reproducible
# builds"); a connector vendors any pure-Python dependency into its own directory.
#
# Environment:
#   PY_BUILD_DIR     keep the build directory here (default: a temporary one, removed)
#   PY_PIN_ENTROPY=1 pin the randomness, clocks and file times the build hands the
#                    Python it runs (tools/reproducible.c; needs a C compiler): two
#                    builds then differ in a dozen bytes, not megabytes. They are still
#                    not byte-identical: see README.md, "Reproducible builds".
set -euo pipefail

want_version="0.25.1"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
wit="$root/wit/v1.1"

die() {
  echo "build.sh: $*" >&2
  exit 1
}

[[ $# -eq 2 ]] || die "usage: build.sh EXAMPLE OUT.wasm (EXAMPLE: a directory of guests/python/examples/ or a path)"
example="$1"
out="$2"

if [[ -d "$example" ]]; then
  src="$(cd "$example" && pwd)"
elif [[ -d "$here/examples/$example" ]]; then
  src="$here/examples/$example"
else
  die "no connector directory \`$example\` (neither a path nor a directory of $here/examples)"
fi
[[ -f "$src/app.py" ]] || die "$src has no app.py (the module that says \`Source = connector_sdk.export(...)\`)"
if grep -Eq '^(Columnar[[:space:]]*=|class Columnar\b)' "$src/app.py"; then
  world="columnar-connector"
else
  world="connector"
  echo "build.sh: $src/app.py has no \`Columnar = Source.Columnar\`: building world \`connector\`, whose pages the host takes draft by draft (slower)" >&2
fi

command -v componentize-py >/dev/null 2>&1 ||
  die "componentize-py is not installed; install it with: pip install -r $here/requirements.txt"
version="$(componentize-py --version 2>/dev/null | awk '{print $2}')" ||
  die "\`componentize-py --version\` failed; reinstall it with: pip install -r $here/requirements.txt"
[[ "$version" == "$want_version" ]] ||
  die "componentize-py is version ${version:-unknown}, and this kit is built and tested with $want_version: pip install -r $here/requirements.txt"

if [[ -n "${PY_BUILD_DIR:-}" ]]; then
  mkdir -p "$PY_BUILD_DIR"
  build="$(cd "$PY_BUILD_DIR" && pwd)"
  # Only what this script puts there is replaced.
  rm -rf "$build/src" "$build/bindings" "$build/venv" "$build/reproducible.so"
else
  build="$(mktemp -d "${TMPDIR:-/tmp}/py-connector.XXXXXX")"
  trap 'rm -rf "$build"' EXIT
fi
mkdir -p "$(dirname "$out")"
out="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"

# Sources, without any bytecode a test run left behind.
mkdir -p "$build/src"
cp -R "$src/." "$build/src/"
cp -R "$here/connector_sdk" "$build/src/connector_sdk"
find "$build/src" -name __pycache__ -prune -exec rm -rf {} +

# The bindings of the world, for editors and type checkers (componentize-py
# generates its own copy inside the component; these are not on its path).
componentize-py -q -d "$wit" -w "$world" bindings "$build/bindings"

# An empty virtual environment: componentize-py otherwise adds the build machine's
# site-packages to the component's path (VIRTUAL_ENV, else `pipenv --venv`, else
# `site.getsitepackages()`), so what else is installed would change the component.
mkdir -p "$build/venv/lib/site-packages"

preload=""
if [[ "${PY_PIN_ENTROPY:-0}" == "1" ]]; then
  command -v cc >/dev/null 2>&1 || die "PY_PIN_ENTROPY=1 needs a C compiler (cc) for the build-time shim"
  cc -shared -fPIC -O2 -o "$build/reproducible.so" "$here/tools/reproducible.c" -ldl ||
    die "compiling $here/tools/reproducible.c failed"
  preload="$build/reproducible.so"
fi

started=$(date +%s%N)
(
  cd "$build"
  export VIRTUAL_ENV="$build/venv"
  unset PYTHONPATH
  if [[ -n "$preload" ]]; then export LD_PRELOAD="$preload${LD_PRELOAD:+:$LD_PRELOAD}"; fi
  componentize-py -q -d "$wit" -w "$world" componentize app -p "$build/src" -o "$out"
) || die "componentize-py failed for $src (its Python traceback, if any, is above)"
finished=$(date +%s%N)

size=$(wc -c <"$out")
sha=$(sha256sum "$out" | awk '{print $1}')
ms=$(((finished - started) / 1000000))
printf 'built %s from %s in %d.%01d s: %d bytes, sha256 %s\n' "$out" "$src" $((ms / 1000)) $((ms % 1000 / 100)) "$size" "$sha" >&2
