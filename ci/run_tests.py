#!/usr/bin/env python3
"""Run the walx test suite once per CRC-32C implementation.

    python ci/run_tests.py [TESTS ...] [PYTEST ARGS ...]

TESTS defaults to the repository's tests/ directory; every leading argument
that names an existing path is taken as a test path, and everything else
(or everything after ``--``) goes to pytest unchanged.

The suite runs twice, in a fresh temporary working directory so that the
installed walx is imported, never the checkout (docs/development.md, "The loop"):

  1. with the default CRC-32C dispatch (hardware when the CPU has it);
  2. with ``WALX_CRC32C=sw``, which forces the portable software CRC
     (the idea of the crc32c package's run-tests.py).

Both runs are the whole suite (about ten seconds today). Each run's header
says which implementation walx actually chose, and the second run fails if
walx did not honour ``WALX_CRC32C=sw``. Any non-zero pytest exit status
fails the run, including 5 ("no tests collected"): a suite that collects
nothing has not passed. When ``WALX_JUNIT_DIR`` is set, each run writes a
JUnit XML report there (``tests-default.xml``, ``tests-sw.xml``).

Exit status: 0 when both runs passed, else the first failing run's pytest
exit status.
"""

import os
import shlex
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PYTEST_EXIT = {
    1: "tests failed",
    2: "interrupted",
    3: "internal error",
    4: "usage error",
    5: "no tests collected",
}

RUNS = [
    # (name, label, WALX_CRC32C value or None to unset)
    ("default", "default CRC-32C", None),
    ("sw", "WALX_CRC32C=sw", "sw"),
]


def split_args(argv):
    """Return (test paths, pytest args) from the command line."""
    if "--" in argv:
        i = argv.index("--")
        head, tail = argv[:i], argv[i + 1:]
    else:
        head, tail = argv, []
    paths = []
    while head and not head[0].startswith("-") and os.path.exists(head[0]):
        paths.append(os.path.abspath(head.pop(0)))
    return paths or [os.path.join(REPO, "tests")], head + tail


def crc_impl(env, cwd):
    """The CRC-32C implementation walx picks in `env`, or an error string."""
    proc = subprocess.run(
        [sys.executable, "-c", "import walx; print(walx.CRC32C_IMPL, walx.__file__)"],
        env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        universal_newlines=True)
    out = proc.stdout.strip()
    if proc.returncode != 0:
        return None, "cannot import walx:\n" + out
    impl, _, where = out.partition(" ")
    return impl, where


def main(argv):
    paths, pytest_args = split_args(argv)
    junit_dir = os.environ.get("WALX_JUNIT_DIR")
    if junit_dir:
        os.makedirs(junit_dir, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="walx-tests-")
    results = []
    try:
        for i, (name, label, crc_env) in enumerate(RUNS, 1):
            env = dict(os.environ)
            env.pop("WALX_CRC32C", None)
            if crc_env is not None:
                env["WALX_CRC32C"] = crc_env
            impl, where = crc_impl(env, workdir)
            title = f"run {i}/{len(RUNS)}: {label}"
            print(f"\n{'#' * 78}\n# {title}: walx uses the {impl or '?'} CRC-32C"
                  f"\n# walx: {where}\n# cwd: {workdir}\n{'#' * 78}", flush=True)
            if impl is None:
                print(where, flush=True)
            cmd = [sys.executable, "-m", "pytest", *paths,
                   "-o", "cache_dir=" + os.path.join(workdir, ".pytest_cache"), *pytest_args]
            if junit_dir:
                cmd += ["--junitxml", os.path.join(junit_dir, f"tests-{name}.xml"),
                        "-o", f"junit_suite_name=walx-{name}"]
            print("$ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
            rc = subprocess.call(cmd, env=env, cwd=workdir)
            problem = None
            if rc != 0:
                problem = f"pytest exit status {rc}: {PYTEST_EXIT.get(rc, 'failed')}"
            elif crc_env == "sw" and impl != "software":
                problem = f"WALX_CRC32C=sw was not honoured: walx used {impl!r}"
                rc = 1
            results.append((title, impl, rc, problem))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"\n{'#' * 78}", flush=True)
    for title, impl, rc, problem in results:
        status = "passed" if problem is None else "FAILED (" + problem + ")"
        print(f"# {title} [{impl or '?'}]: {status}")
    if results and results[0][1] == "software":
        print("# note: no hardware CRC-32C here, so both runs used the software CRC")
    print("#" * 78, flush=True)
    for _, _, rc, _ in results:
        if rc != 0:
            return rc
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
