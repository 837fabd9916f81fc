"""CRC-32C throughput at 100 B, 4 KiB and 1 MiB.

Each round computes the CRC of one random buffer many times (so the
per-round overhead does not count); records/s are buffers/s. Every result
is checked against walx's software CRC.

- ``walx.crc32c``: the implementation walx chose at import (hardware, with
  carry-less folding, when the CPU has it; ``WALX_CRC32C=nofold`` measures
  the CRC instructions alone);
- the ``crc32c`` package (hardware when available): the Python CRC-32C
  people reach for, a C extension, so the fair peer. Target at 1 MiB:
  walx >= 0.9x it;
- ``walx._testing.crc32c_sw``: walx's portable slicing-by-8, whatever the
  dispatch chose (what a CPU without CRC instructions gets).
"""

import os

import pytest

import walx
import walx._testing
from conftest import QUICK, require, run_rounds

SIZES = pytest.mark.parametrize("size", [100, 4096, 1 << 20], ids=["100B", "4KiB", "1MiB"])
BUFFERS = {100: 100 if QUICK else 10_000, 4096: 100 if QUICK else 10_000,
           1 << 20: 2 if QUICK else 32}
ROUNDS = 1 if QUICK else 15


def _crc(benchmark, bench_case, size, impl, fn):
    n, data = BUFFERS[size], os.urandom(size)
    label = {100: "100B", 4096: "4KiB"}.get(size, "1MiB")
    bench_case(f"crc32c {label}", impl, records=n, size=size)

    def body():
        for _ in range(n):
            fn(data)

    run_rounds(benchmark, body, ROUNDS)
    assert fn(data) == walx._testing.crc32c_sw(data)


@SIZES
def test_walx_crc32c(benchmark, bench_case, size):
    """walx.crc32c, the implementation chosen at import."""
    _crc(benchmark, bench_case, size, f"walx.crc32c ({walx.CRC32C_IMPL})", walx.crc32c)


@SIZES
def test_crc32c_package(benchmark, bench_case, size):
    """crc32c.crc32c from the crc32c package."""
    pkg = require("crc32c")
    impl = f"crc32c package ({'hardware' if pkg.hardware_based else 'software'})"
    _crc(benchmark, bench_case, size, impl, pkg.crc32c)


@SIZES
def test_walx_crc32c_software(benchmark, bench_case, size):
    """walx's portable slicing-by-8 CRC."""
    _crc(benchmark, bench_case, size, "walx software (slicing-by-8)",
         walx._testing.crc32c_sw)
