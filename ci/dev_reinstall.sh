#!/usr/bin/env bash
# Developer loop: build walx from a private copy of the working tree (so
# concurrent builds never share build/) and install it into a virtualenv.
# Usage: ci/dev_reinstall.sh [VENV]   (default: $WALX_VENV or ../venv)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv=${1:-${WALX_VENV:-$repo/../venv}}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tar -C "$repo" --exclude=./build --exclude='*.so' --exclude=./.git -cf - . | tar -C "$tmp" -xf -
"$venv/bin/python" -m pip install -q --no-build-isolation --no-deps --force-reinstall "$tmp" 
(cd / && "$venv/bin/python" -c "import walx, walx._walx as m; print('installed', m.__file__, walx.CRC32C_IMPL)")
