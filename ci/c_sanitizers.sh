#!/usr/bin/env bash
# Builds the pure C core (csrc/*.c) together with tests/c/test_core.c, with
# no Python involved, and runs it (docs/development.md, "C core tests"):
#
#   1. -O1 with ASan + UBSan (UBSan aborts on the first error);
#   2. -O2 -D_FORTIFY_SOURCE=2 without sanitizers, because some warnings
#      (-Wmaybe-uninitialized) and some bugs appear only when optimised;
#   3. both again with clang when it is installed and CC is not clang.
#
# Every build uses -std=c11 -Wall -Wextra -Wshadow -Wconversion -Werror.
# The last line of output is "N passed, M failed" summed over the builds
# (a CI parser reads it); a build that fails to compile or crashes counts
# as one failure. Exit status: 0 when everything passed.
#
# Usage: ci/c_sanitizers.sh        (CC=clang ci/c_sanitizers.sh to pick the compiler)
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/walx-csan.XXXXXX")
trap 'rm -rf "$work"' EXIT

warnings=(-std=c11 -Wall -Wextra -Wshadow -Wconversion -Werror)
sanitize=(-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
optimize=(-O2 -g -D_FORTIFY_SOURCE=2)
sources=("$repo"/csrc/*.c "$repo"/tests/c/test_core.c)

asan_defaults=abort_on_error=1:detect_leaks=1:detect_stack_use_after_return=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-$asan_defaults:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# The test writes its temporary files here and removes them.
export TMPDIR=$work

run_with_timeout() {
    if command -v timeout >/dev/null 2>&1; then
        timeout 600 "$@"
    else
        "$@"
    fi
}

total_passed=0
total_failed=0
failed_builds=()

# build_and_run NAME COMPILER FLAGS...
build_and_run() {
    local name=$1 compiler=$2
    shift 2
    local exe="$work/test_core-$name"
    echo "=== $name: $compiler $* -I csrc"
    if ! "$compiler" "${warnings[@]}" "$@" -I"$repo/csrc" "${sources[@]}" -o "$exe"; then
        echo "=== $name: BUILD FAILED"
        total_failed=$((total_failed + 1))
        failed_builds+=("$name (build)")
        return
    fi
    local log="$work/$name.log" rc
    run_with_timeout "$exe" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    if grep -q "LeakSanitizer has encountered a fatal error" "$log"; then
        # LSan needs ptrace-like access that some containers deny; run the
        # tests again without leak checks rather than report nothing.
        echo "=== $name: LeakSanitizer cannot run here; rerunning with detect_leaks=0"
        ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0" run_with_timeout "$exe" 2>&1 | tee "$log"
        rc=${PIPESTATUS[0]}
    fi
    local summary passed failed
    summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
    if [ -z "$summary" ]; then
        echo "=== $name: CRASHED or TIMED OUT (exit $rc, no summary line)"
        total_failed=$((total_failed + 1))
        failed_builds+=("$name (exit $rc)")
        return
    fi
    passed=${summary%% passed*}
    failed=${summary#*, }
    failed=${failed%% failed}
    total_passed=$((total_passed + passed))
    total_failed=$((total_failed + failed))
    if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
        # A sanitizer report after the summary (leaks are checked at exit).
        total_failed=$((total_failed + 1))
        failed_builds+=("$name (exit $rc after its summary)")
    elif [ "$failed" -ne 0 ]; then
        failed_builds+=("$name")
    fi
}

cc=${CC:-cc}
if ! command -v "$cc" >/dev/null 2>&1; then
    echo "c_sanitizers.sh: no C compiler ($cc) found" >&2
    echo "0 passed, 1 failed"
    exit 1
fi
"$cc" --version | head -n 1

build_and_run "asan-ubsan" "$cc" "${sanitize[@]}"
build_and_run "O2" "$cc" "${optimize[@]}"
if command -v clang >/dev/null 2>&1 && ! "$cc" --version | grep -qi clang; then
    build_and_run "clang-asan-ubsan" clang "${sanitize[@]}"
    build_and_run "clang-O2" clang "${optimize[@]}"
fi

echo
if [ ${#failed_builds[@]} -gt 0 ]; then
    echo "C core tests FAILED in: ${failed_builds[*]}"
fi
echo "$total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
