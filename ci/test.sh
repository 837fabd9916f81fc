#!/usr/bin/env bash
# The test command: build walx the way a user's pip would, install it into
# a fresh virtualenv, and run the whole suite against the installed copy,
# once per CRC-32C implementation (ci/run_tests.py).
#
#   bash ci/test.sh [PYTEST ARGS ...]
#
# Needs only Python >= 3.9 (with venv and its C headers) and a C compiler.
# As root on a Debian/Ubuntu-like system it installs what is missing with
# apt-get: python3-venv and python3-dev when needed, and rocksdb-tools for
# RocksDB's `ldb` (the interop tests skip without it, but fail under CI=1).
#
# Environment:
#   PYTHON       the interpreter for the virtualenv (default: python3)
#   WALX_VENV    virtualenv to create, or to reuse when it exists; by
#                default a fresh one in a temporary directory, removed at exit
#   WALX_JUNIT_DIR  when set, JUnit XML reports are written there
#
# walx is built from a clean copy of the source files (git's tracked and
# untracked-but-not-ignored files), so stale build/ directories and in-place
# .so files in the checkout can neither help nor hurt the build.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}

say() { printf '\n==> %s\n' "$*"; }
die() { printf 'ci/test.sh: error: %s\n' "$*" >&2; exit 1; }
warn() { printf 'ci/test.sh: WARNING: %s\n' "$*" >&2; }

cleanup_dirs=()
cleanup() { if [ ${#cleanup_dirs[@]} -gt 0 ]; then rm -rf "${cleanup_dirs[@]}"; fi; }
trap cleanup EXIT

can_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }

apt_updated=${WALX_APT_UPDATED:-}
apt_install() {
    # apt_install PACKAGE...: quietly, running `apt-get update` once.
    export DEBIAN_FRONTEND=noninteractive
    if [ -z "$apt_updated" ]; then
        apt-get update -qq </dev/null >/dev/null || return 1
        apt_updated=1
    fi
    apt-get install -y -qq --no-install-recommends "$@" </dev/null >/dev/null
}

# ---- prerequisites ----------------------------------------------------------

command -v "$python" >/dev/null 2>&1 || die "no Python interpreter '$python' (set PYTHON=...)"
"$python" - <<'EOF' || die "walx needs Python >= 3.9; $python is $("$python" -V 2>&1)"
import sys
sys.exit(0 if sys.version_info >= (3, 9) else 1)
EOF
pyver=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')

cc=${CC:-cc}
if ! command -v "$cc" >/dev/null 2>&1 && [ -z "${CC:-}" ] && can_apt; then
    say "installing a C compiler (gcc)"
    apt_install gcc libc6-dev || true
fi
command -v "$cc" >/dev/null 2>&1 ||
    die "no C compiler ($cc); install one (Debian: apt-get install gcc libc6-dev)"

have_headers() {
    "$python" - <<'PY'
import os, sys, sysconfig
sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))
PY
}
if ! have_headers; then
    if can_apt; then
        say "installing the Python $pyver C headers (python$pyver-dev)"
        apt_install "python$pyver-dev" || apt_install python3-dev || true
    fi
    have_headers ||
        die "Python.h for $python is missing (Debian: apt-get install python$pyver-dev)"
fi

have_venv() { "$python" -c 'import ensurepip, venv' >/dev/null 2>&1; }
if [ -z "${WALX_VENV:-}" ] || [ ! -x "${WALX_VENV}/bin/python" ]; then
    if ! have_venv; then
        if can_apt; then
            say "installing python$pyver-venv"
            apt_install "python$pyver-venv" || apt_install python3-venv || true
        fi
        have_venv ||
            die "$python cannot create virtualenvs (Debian: apt-get install python$pyver-venv)"
    fi
fi

if ! command -v ldb >/dev/null 2>&1; then
    if can_apt; then
        say "installing rocksdb-tools (RocksDB's ldb, for the interop tests)"
        apt_install rocksdb-tools || true
    fi
    if ! command -v ldb >/dev/null 2>&1; then
        warn "RocksDB's 'ldb' is not installed (Debian: apt-get install rocksdb-tools);" \
             "the ldb interop tests will skip (and fail when CI is set)."
    fi
fi

# ---- virtualenv -----------------------------------------------------------

if [ -n "${WALX_VENV:-}" ]; then
    venv=$WALX_VENV
    if [ -x "$venv/bin/python" ]; then
        say "reusing the virtualenv $venv"
    else
        say "creating the virtualenv $venv"
        "$python" -m venv "$venv"
    fi
else
    venv_parent=$(mktemp -d "${TMPDIR:-/tmp}/walx-venv.XXXXXX")
    cleanup_dirs+=("$venv_parent")
    venv=$venv_parent/venv
    say "creating a fresh virtualenv in $venv (removed at exit; set WALX_VENV to keep one)"
    "$python" -m venv "$venv"
fi
venv=$(cd "$venv" && pwd)  # absolute: the suite runs from another directory
vpython=$venv/bin/python
"$vpython" -m pip --version >/dev/null 2>&1 || die "the virtualenv $venv has no pip"

# ---- build and install ----------------------------------------------------

src_parent=$(mktemp -d "${TMPDIR:-/tmp}/walx-src.XXXXXX")
cleanup_dirs+=("$src_parent")
src=$src_parent/walx
mkdir "$src"
if git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # Deleted-but-tracked files are listed too; skip them.
    (cd "$repo" && git ls-files -z --cached --others --exclude-standard) |
        (cd "$repo" && while IFS= read -r -d '' f; do
            [ -e "$f" ] && printf '%s\0' "$f"
        done) |
        (cd "$repo" && tar --null --no-recursion -T - -cf -) | tar -C "$src" -xf -
else
    tar -C "$repo" --exclude=./build --exclude='*.so' --exclude=./.git \
        --exclude='./.venv*' --exclude='./venv*' -cf - . | tar -C "$src" -xf -
fi

export PIP_DISABLE_PIP_VERSION_CHECK=1
# Virtualenvs start with the pip bundled with their Python (20.3 on Debian
# 11); a current pip behaves the same everywhere and costs a few seconds.
"$vpython" -m pip install --quiet --upgrade pip
# A reused virtualenv may hold an earlier walx of the same version, which
# some pips would keep: remove it so the one built now is the one tested.
"$vpython" -m pip uninstall --quiet --yes walx >/dev/null 2>&1 || true
say "pip install \".[test]\" (isolated build of $repo, copied to $src)"
"$vpython" -m pip install --quiet "$src[test]"
"$vpython" -m pip list 2>/dev/null |
    grep -iE '^(walx|pytest|pytest-benchmark|crc32c|hypothesis) ' || true

# ---- run ------------------------------------------------------------------

say "running the suite from outside the source tree (WALX_REQUIRE_INSTALLED=1)"
rundir=$(mktemp -d "${TMPDIR:-/tmp}/walx-run.XXXXXX")
cleanup_dirs+=("$rundir")
cd "$rundir"
export WALX_REQUIRE_INSTALLED=1
rc=0
"$vpython" "$repo/ci/run_tests.py" "$repo/tests" "$@" || rc=$?
exit "$rc"
