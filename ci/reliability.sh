#!/usr/bin/env bash
# The long reliability runs (docs/reliability.md). The short versions are
# part of the normal suite (tests/reliability/: test_crash.py,
# test_powerloss.py, test_faults.py, test_faults_manager.py,
# test_properties.py, test_bad_inputs.py; ci/fuzz.sh short).
#
#   1. WALX_LONG=1 pytest on the reliability suites: >= 1,000 SIGKILL crashes,
#      >= 10,000 power-loss states, every fault, 2,000 examples per property;
#   2. ci/fuzz.sh long: >= 10 million fuzzer executions under ASan + UBSan.
#
# Usage: ci/reliability.sh [--no-fuzz] [--no-tests]
# Environment: PYTHON (default python3; walx must be installed in it, with
# pytest, hypothesis and crc32c), WALX_FUZZ_DIR (keeps the fuzz corpora).
# Prints the measured figures at the end; exit status 0 when all passed.
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
fuzz=1
tests=1
for arg in "$@"; do
    case "$arg" in
    --no-fuzz) fuzz=0 ;;
    --no-tests) tests=0 ;;
    *) echo "usage: ci/reliability.sh [--no-fuzz] [--no-tests]" >&2; exit 2 ;;
    esac
done

figures=$(mktemp "${TMPDIR:-/tmp}/walx-reliability.XXXXXX")
trap 'rm -f "$figures"' EXIT
status=0

if [ "$tests" = 1 ]; then
    echo "=== WALX_LONG=1 reliability suites"
    start=$(date +%s)
    # From outside the checkout, so that the installed walx is tested.
    (cd / && WALX_LONG=1 WALX_RELIABILITY_LOG="$figures" "$python" -m pytest -q \
        -p no:cacheprovider "$repo/tests/reliability") || status=1
    echo "=== reliability suites took $(( $(date +%s) - start )) s"
    "$python" - "$figures" <<'EOF'
import collections, json, sys
totals = collections.Counter()
for line in open(sys.argv[1]):
    rec = json.loads(line)
    totals[rec["figure"]] += rec["n"]
names = {"crashes": "SIGKILL crashes survived", "powerloss_states": "power-loss states checked",
         "faults": "faults injected", "bad_inputs": "bad inputs tried"}
for key, label in names.items():
    print(f"{label}: {totals.get(key, 0)}")
EOF
fi

if [ "$fuzz" = 1 ]; then
    echo "=== ci/fuzz.sh long"
    PYTHON="$python" "$repo/ci/fuzz.sh" long || status=1
fi
exit $status
