#!/usr/bin/env bash
# Builds and runs walx's fuzzers under AddressSanitizer + UndefinedBehaviorSanitizer:
#
#   fuzz_parse   libFuzzer, C: walx_parse_physical on any bytes, and
#                walx_frame_emit(_iov) -> walx_parse_physical round trips
#   fuzz_reader  atheris: walx.LogReader in every mode and option
#   fuzz_batch   atheris: walx.WriteBatch.decode / encode
#
# The atheris harnesses run against a private build of walx compiled with
# clang -fsanitize=address,undefined,fuzzer-no-link (so libFuzzer sees the C
# coverage), with atheris' ASan+libFuzzer runtime preloaded.
#
# Usage:
#   ci/fuzz.sh short          CI's sanitizer pass (1 minute of fuzzing, ~2 minutes in all)
#   ci/fuzz.sh long           the long run: 8M + 1.5M + 1.5M executions
#   ci/fuzz.sh runs P R B     P, R, B executions of parse, reader, batch
#   ci/fuzz.sh time P R B     P, R, B seconds of each
# Environment: PYTHON (default: python3), WALX_FUZZ_DIR (work directory,
# default: a temporary one, removed at exit; set it to keep the corpora).
#
# The last line is "fuzz: N executions, M failures" (summed); the exit status
# is 0 when no fuzzer found anything.
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
mode=${1:-short}
case "$mode" in
short) limit=time; p=30; r=20; b=10 ;;
long) limit=runs; p=8000000; r=1500000; b=1500000 ;;
runs | time) limit=$mode; p=${2:?}; r=${3:?}; b=${4:?} ;;
*) echo "usage: ci/fuzz.sh short|long|runs P R B|time P R B" >&2; exit 2 ;;
esac

if [ -n "${WALX_FUZZ_DIR:-}" ]; then
    work=$WALX_FUZZ_DIR
    mkdir -p "$work"
else
    work=$(mktemp -d "${TMPDIR:-/tmp}/walx-fuzz.XXXXXX")
    trap 'rm -rf "$work"' EXIT
fi

# ---- tools ------------------------------------------------------------------------------
if ! command -v clang >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "fuzz.sh: installing clang (Debian package)"
        apt-get update -qq >/dev/null && apt-get install -y -qq clang >/dev/null
    fi
fi
if ! command -v clang >/dev/null 2>&1; then
    echo "fuzz.sh: clang is required (apt-get install clang)" >&2
    echo "fuzz: 0 executions, 1 failures"
    exit 1
fi
# atheris, crc32c (the reference parser of tests/walxtest.py), and what
# building walx needs: pyproject.toml's build-system
# requires (a CI virtualenv may lack them, or have older ones). pip does not
# go to the network for requirements that are already satisfied.
build_requires=()
while IFS= read -r req; do
    [ -n "$req" ] && build_requires+=("$req")
done < <("$python" -c '
import re, sys
text = open(sys.argv[1]).read()
m = re.search(r"\[build-system\][^\[]*?requires\s*=\s*\[(.*?)\]", text, re.S)
print("\n".join(re.findall(r"\"([^\"]+)\"", m.group(1) if m else "")))
' "$repo/pyproject.toml")
"$python" -m pip install -q atheris crc32c "${build_requires[@]}" ||
    echo "fuzz.sh: could not install atheris, crc32c and ${build_requires[*]} for $python"
have_atheris=1
"$python" -c "import atheris, Cython, setuptools" 2>/dev/null || have_atheris=0
clang --version | head -n 1

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=1:abort_on_error=1:malloc_context_size=10}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

total_runs=0
failures=0
failed=()

# run_fuzzer NAME LOG CMD...: runs it, adds its "Done N runs" to the total.
run_fuzzer() {
    local name=$1 log=$2
    shift 2
    echo "=== $name: $*"
    (cd "$work" && "$@") >"$log" 2>&1
    local rc=$?
    local done_line
    done_line=$(grep -E '^Done [0-9]+ runs' "$log" | tail -n 1)
    tail -n 3 "$log"
    if [ "$rc" -ne 0 ] || [ -z "$done_line" ]; then
        echo "=== $name: FAILED (exit $rc); log: $log"
        grep -E 'ERROR|SUMMARY|REQUIRE|Error|assert|Traceback' "$log" | head -n 20
        failures=$((failures + 1))
        failed+=("$name")
        # The crashing input is in the work directory (crash-*).
        ls "$work"/crash-* 2>/dev/null | head -n 3
    fi
    if [ -n "$done_line" ]; then
        local n=${done_line#Done }
        n=${n%% runs*}
        total_runs=$((total_runs + n))
        echo "=== $name: $n executions"
    fi
}

limit_flag() {   # limit_flag N -> the libFuzzer flag for this mode
    if [ "$limit" = time ]; then echo "-max_total_time=$1"; else echo "-runs=$1"; fi
}

# ---- seed corpus --------------------------------------------------------------------------
mkdir -p "$work/seeds" "$work/corpus/parse" "$work/corpus/reader" "$work/corpus/batch"
if ! PYTHONPATH="$work/src" "$python" "$repo/fuzz/make_corpus.py" "$work/seeds" \
        2>"$work/make_corpus.log"; then
    # walx may not be importable yet: the corpus then has only the vectors.
    "$python" - "$repo" "$work/seeds" <<'EOF'
import hashlib, pathlib, sys
repo, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
for sub in ("parse", "reader", "batch"):
    (out / sub).mkdir(parents=True, exist_ok=True)
for p in sorted((repo / "tests" / "data").rglob("*.log")):
    data = p.read_bytes()[:65536]
    h = hashlib.sha1(data).hexdigest()
    (out / "parse" / h).write_bytes(b"\0" + data)
    (out / "reader" / h).write_bytes(data + b"\0")
    (out / "batch" / h).write_bytes(data[7:200])
EOF
fi

# ---- 1. the C fuzzer --------------------------------------------------------------------
cflags=(-g -O1 -std=c11 -fno-omit-frame-pointer -fsanitize=address,undefined
        -fno-sanitize-recover=all -I"$repo/csrc")
c_sources=()
for f in "$repo"/csrc/*.c; do
    # CRC-32C (walx_crc32c*.c) is compiled without coverage feedback: its
    # loops only slow the fuzzer down (it is still checked: against the
    # portable implementation).
    case "$(basename "$f")" in walx_crc32c*.c) ;; *) c_sources+=("$f") ;; esac
done
echo "=== building fuzz_parse"
if clang "${cflags[@]}" -c "$repo/csrc/walx_crc32c.c" -o "$work/walx_crc32c.o" &&
   clang "${cflags[@]}" -c "$repo/csrc/walx_crc32c_fold.c" -o "$work/walx_crc32c_fold.o" &&
   clang "${cflags[@]}" -fsanitize=fuzzer "${c_sources[@]}" "$repo/fuzz/fuzz_parse.c" \
         "$work/walx_crc32c.o" "$work/walx_crc32c_fold.o" -lpthread -o "$work/fuzz_parse"; then
    run_fuzzer fuzz_parse "$work/fuzz_parse.log" \
        ./fuzz_parse "$(limit_flag "$p")" -max_len=65536 -print_final_stats=1 \
        -artifact_prefix="$work/" "$work/corpus/parse" "$work/seeds/parse"
else
    echo "=== fuzz_parse: BUILD FAILED"
    failures=$((failures + 1)); failed+=("fuzz_parse (build)")
fi

# ---- 2. the atheris fuzzers -------------------------------------------------------------
if [ "$have_atheris" = 1 ]; then
    echo "=== building walx with clang, ASan, UBSan and libFuzzer coverage"
    rm -rf "$work/src"
    mkdir -p "$work/src"
    tar -C "$repo" --exclude=./build --exclude='*.so' --exclude=./.git -cf - . |
        tar -C "$work/src" -xf -
    if (cd "$work/src" && CC=clang WALX_SANITIZE=1 \
            CFLAGS="-fsanitize=fuzzer-no-link -fsanitize-ignorelist=$repo/fuzz/ubsan_ignorelist.txt" \
            "$python" setup.py -q build_ext --inplace >"$work/build.log" 2>&1); then
        atheris_dir=$("$python" -c "import atheris; print(atheris.path())")
        preload="$atheris_dir/asan_with_fuzzer.so"
        for h in reader batch; do
            case $h in reader) n=$r ;; batch) n=$b ;; esac
            run_fuzzer "fuzz_$h" "$work/fuzz_$h.log" \
                env LD_PRELOAD="$preload" PYTHONMALLOC=malloc PYTHONPATH="$work/src" \
                "$python" "$repo/fuzz/fuzz_$h.py" "$(limit_flag "$n")" -max_len=65536 \
                -print_final_stats=1 -artifact_prefix="$work/" \
                "$work/corpus/$h" "$work/seeds/$h"
        done
    else
        echo "=== sanitized walx: BUILD FAILED"; tail -n 30 "$work/build.log"
        failures=$((failures + 1)); failed+=("walx sanitized build")
    fi
else
    echo "=== atheris, Cython or setuptools missing for $python: Python fuzzers NOT run"
    failures=$((failures + 1)); failed+=("atheris unavailable")
fi

echo
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzzers FAILED: ${failed[*]} (work directory: $work)"
    trap - EXIT
fi
echo "fuzz: $total_runs executions, $failures failures"
[ "$failures" -eq 0 ]
