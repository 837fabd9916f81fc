"""CRC-32C throughput: walx's dispatch against the crc32c package and walx's
own portable software implementation, at 100 B, 4 KiB and 1 MiB.

Each round computes the CRC of one buffer many times (BUFFERS[size] calls),
so pytest-benchmark's per-round overhead does not dominate; report.py shows
buffers/s and MB/s. The buffer is the same random bytes for every
implementation; the first call's result is checked against the others.
"""

import os

import pytest

import walx
import walx._testing

try:
    import crc32c as crc32c_pkg
except ImportError:       # the package's rows say "not installed"
    crc32c_pkg = None

QUICK = os.environ.get("WALX_BENCH_QUICK") == "1"
SIZES = [100, 4096, 1 << 20]
BUFFERS = {100: 100 if QUICK else 10_000, 4096: 100 if QUICK else 10_000,
           1 << 20: 2 if QUICK else 32}
ROUNDS = 1 if QUICK else 15
IDS = ["100B", "4KiB", "1MiB"]


def _run(benchmark, bench_case, impl, fn, size):
    data = os.urandom(size)
    n = BUFFERS[size]
    bench_case(f"crc32c {IDS[SIZES.index(size)]}", impl, records=n, record_size=size)

    def rounds():
        for _ in range(n):
            fn(data)

    benchmark.pedantic(rounds, rounds=ROUNDS, warmup_rounds=1 if ROUNDS > 1 else 0)
    assert fn(data) == walx._testing.crc32c_sw(data)


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_crc32c_walx_dispatch(benchmark, bench_case, size):
    """walx.crc32c: the implementation chosen at import (hardware when the CPU has it)."""
    _run(benchmark, bench_case, f"walx.crc32c ({walx.CRC32C_IMPL})", walx.crc32c, size)


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_crc32c_package(benchmark, bench_case, size):
    """crc32c.crc32c from the crc32c package (hardware when available)."""
    if crc32c_pkg is None:
        bench_case(f"crc32c {IDS[SIZES.index(size)]}", "crc32c package", records=BUFFERS[size],
                   record_size=size)
        pytest.skip("crc32c not installed (pip install crc32c)")
    impl = "crc32c package (%s)" % ("hardware" if crc32c_pkg.hardware_based else "software")
    _run(benchmark, bench_case, impl, crc32c_pkg.crc32c, size)


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_crc32c_walx_software(benchmark, bench_case, size):
    """walx._testing.crc32c_sw: walx's portable slicing-by-8 CRC, whatever the dispatch chose."""
    _run(benchmark, bench_case, "walx software (slicing-by-8)", walx._testing.crc32c_sw, size)
