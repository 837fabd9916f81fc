"""CRC-32C (walx.crc32c, mask_crc, unmask_crc): every kernel (software,
hardware, folded) against known vectors and the crc32c package, argument
checks, and the WALX_CRC32C environment variable."""

import os
import random
import subprocess
import sys

import crc32c as ref
import pytest

import walx
import walx._testing

HW_NAMES = {"sse4.2", "armv8-crc", "vpclmulqdq-512", "vpclmulqdq-256"}
FOLD = walx._testing.crc32c_fold_width()

ISCSI_READ = bytes([
    0x01, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
    0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18,
    0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
])

VECTORS = [
    pytest.param(b"123456789", 0xE3069283, id="check-123456789"),
    pytest.param(bytes(32), 0x8A9136AA, id="32-zeros"),
    pytest.param(b"\xff" * 32, 0x62A8AB43, id="32-ones"),
    pytest.param(bytes(range(32)), 0x46DD794E, id="ascending-0-31"),
    pytest.param(bytes(range(31, -1, -1)), 0x113FDB5C, id="descending-31-0"),
    pytest.param(ISCSI_READ, 0xD9963A56, id="iscsi-read-command"),
    pytest.param(b"", 0, id="empty"),
]


def _hw(data, value=0):
    return walx._testing.crc32c_hw(data, value)


def _fold(data, value=0):
    return walx._testing.crc32c_fold(data, value)


def _fold256(data, value=0):
    return walx._testing.crc32c_fold(data, value, 256)


NO_FOLD = pytest.mark.skipif(not FOLD, reason="no VPCLMULQDQ on this CPU")

IMPLS = [
    pytest.param(walx.crc32c, id="dispatch"),
    pytest.param(walx._testing.crc32c_sw, id="software"),
    pytest.param(_hw, id="hardware", marks=pytest.mark.skipif(
        not walx._testing.crc32c_hw_available(), reason="no hardware CRC-32C on this CPU")),
    pytest.param(_fold, id="fold", marks=NO_FOLD),
    pytest.param(_fold256, id="fold256", marks=NO_FOLD),
]


@pytest.fixture(params=IMPLS)
def impl(request):
    return request.param


@pytest.mark.parametrize("data, expected", VECTORS)
def test_known_vectors(impl, data, expected):
    assert impl(data) == expected


@pytest.mark.parametrize("data, expected", VECTORS)
def test_reference_package_agrees_on_known_vectors(data, expected):
    assert ref.crc32c(data) == expected


def test_value_extends_a_previous_crc(impl):
    rng = random.Random(7)
    for _ in range(200):
        a = rng.randbytes(rng.randrange(300))
        b = rng.randbytes(rng.randrange(300))
        assert impl(b, impl(a)) == impl(a + b) == ref.crc32c(a + b)


def test_value_extension_across_large_split(impl):
    data = random.Random(3).randbytes(200_000)
    assert impl(data[70_001:], impl(data[:70_001])) == ref.crc32c(data)


def test_every_length_to_2100_at_random_offsets(impl):
    # Past every kernel's switch-over (512 and 1024 bytes) and its 16-byte
    # and 8-byte tails.
    rng = random.Random(1024)
    buf = rng.randbytes(2100 + 8)
    mv = memoryview(buf)
    for n in range(2101):
        off = rng.randrange(8)
        assert impl(mv[off:off + n]) == ref.crc32c(buf[off:off + n]), (n, off)


@pytest.mark.parametrize("off", [0, 1, 3, 5, 7])
def test_multi_megabyte_buffer_at_odd_offsets(impl, off):
    buf = random.Random(off).randbytes(3 * 1024 * 1024 + 5 + 8)
    data = memoryview(buf)[off:off + 3 * 1024 * 1024 + 5]
    assert impl(data) == ref.crc32c(bytes(data))


def test_software_equals_hardware_directly():
    if not walx._testing.crc32c_hw_available():
        pytest.skip("no hardware CRC-32C on this CPU")
    rng = random.Random(99)
    for _ in range(300):
        data = rng.randbytes(rng.randrange(5000))
        seed = rng.randrange(1 << 32)
        assert walx._testing.crc32c_sw(data, seed) == walx._testing.crc32c_hw(data, seed)


@NO_FOLD
@pytest.mark.parametrize("width", [0, 256])
def test_folding_equals_software_at_kernel_edges(width):
    # Lengths around each round (256 or 512 bytes) and each fold-down step,
    # with every start alignment mod 64 and a random starting CRC.
    rng = random.Random(width)
    buf = rng.randbytes(70_000)
    lengths = sorted({k * r + d for r in (256, 512) for k in range(1, 9)
                      for d in (-17, -16, -9, -8, -1, 0, 1, 8, 15, 16, 33)} | {65_536})
    for n in lengths:
        for off in range(0, 64, 7):
            seed = rng.randrange(1 << 32)
            data = buf[off:off + n]
            assert walx._testing.crc32c_fold(data, seed, width) == \
                walx._testing.crc32c_sw(data, seed), (n, off)


def test_fold_entry_point_checks_its_arguments():
    if not FOLD:
        with pytest.raises(RuntimeError, match="carry-less"):
            walx._testing.crc32c_fold(b"x")
        return
    assert FOLD in (256, 512)
    with pytest.raises(ValueError, match="width"):
        walx._testing.crc32c_fold(b"x", 0, 128)
    assert walx._testing.crc32c_fold(b"123456789") == 0xE3069283


def test_hardware_entry_point_raises_without_hardware():
    if walx._testing.crc32c_hw_available():
        assert walx._testing.crc32c_hw(b"123456789") == 0xE3069283
    else:
        with pytest.raises(RuntimeError):
            walx._testing.crc32c_hw(b"123456789")


@pytest.mark.parametrize("source", [bytearray, memoryview, lambda b: memoryview(b).cast("B")],
                         ids=["bytearray", "memoryview", "memoryview-cast"])
def test_accepts_bytes_like_objects(impl, source):
    assert impl(source(b"123456789")) == 0xE3069283


def test_str_data_raises_type_error_naming_data(impl):
    with pytest.raises(TypeError, match="data"):
        impl("123456789")


@pytest.mark.parametrize("obj", [None, 123, [1, 2, 3]], ids=["none", "int", "list"])
def test_non_buffer_data_raises_type_error_naming_data(impl, obj):
    with pytest.raises(TypeError, match="data"):
        impl(obj)


@pytest.mark.parametrize("value", [-1, 2**32], ids=["negative", "2**32"])
def test_out_of_range_value_raises_value_error_naming_value(impl, value):
    with pytest.raises(ValueError, match="value"):
        impl(b"abc", value)


def test_non_int_value_raises_type_error_naming_value(impl):
    with pytest.raises(TypeError, match="value"):
        impl(b"abc", "0")


def test_non_contiguous_memoryview_raises_type_error(impl):
    with pytest.raises(TypeError, match="data"):
        impl(memoryview(b"abcdefgh")[::2])


def test_max_value_is_accepted(impl):
    assert impl(b"abc", 0xFFFFFFFF) == ref.crc32c(b"abc", 0xFFFFFFFF)


def test_mask_known_value():
    assert walx.mask_crc(walx.crc32c(b"\x01")) == 0x43282B05
    assert walx.unmask_crc(0x43282B05) == ref.crc32c(b"\x01")


def test_mask_round_trip():
    rng = random.Random(5)
    for c in [0, 1, 0xFFFFFFFF, 0xA282EAD8, 0x80000000] + [rng.randrange(1 << 32)
                                                           for _ in range(500)]:
        m = walx.mask_crc(c)
        assert 0 <= m <= 0xFFFFFFFF
        assert walx.unmask_crc(m) == c
        assert walx.unmask_crc(walx.unmask_crc(walx.mask_crc(m))) == c
        assert m == (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def test_mask_changes_the_crc():
    c = walx.crc32c(b"foo")
    assert walx.mask_crc(c) != c
    assert walx.mask_crc(walx.mask_crc(c)) != walx.mask_crc(c)


@pytest.mark.parametrize("fn, name", [(walx.mask_crc, "crc"), (walx.unmask_crc, "masked")])
@pytest.mark.parametrize("bad", [-1, 2**32])
def test_mask_out_of_range_raises_value_error(fn, name, bad):
    with pytest.raises(ValueError, match=name):
        fn(bad)


@pytest.mark.parametrize("call,exc,name", [
    (lambda: walx.crc32c("abc"), TypeError, "data"),
    (lambda: walx.crc32c(123), TypeError, "data"),
    (lambda: walx.crc32c(None), TypeError, "data"),
    (lambda: walx.crc32c(b"abc", -1), ValueError, "value"),
    (lambda: walx.crc32c(b"abc", 2**32), ValueError, "value"),
    (lambda: walx.crc32c(b"abc", True), TypeError, "value"),
    (lambda: walx.crc32c(b"abc", 1.0), TypeError, "value"),
    (lambda: walx.crc32c(b"abc", "0"), TypeError, "value"),
    (lambda: walx.mask_crc(-1), ValueError, "crc"),
    (lambda: walx.mask_crc(2**32), ValueError, "crc"),
    (lambda: walx.mask_crc("1"), TypeError, "crc"),
    (lambda: walx.mask_crc(True), TypeError, "crc"),
    (lambda: walx.mask_crc(None), TypeError, "crc"),
    (lambda: walx.unmask_crc(-1), ValueError, "masked"),
    (lambda: walx.unmask_crc(2**32), ValueError, "masked"),
    (lambda: walx.unmask_crc(1.0), TypeError, "masked"),
    (lambda: walx.unmask_crc(False), TypeError, "masked"),
])
def test_crc_functions_reject_bad_arguments_naming_them(call, exc, name):
    with pytest.raises(exc, match=name):
        call()



def test_crc_functions_accept_limits():
    assert walx.crc32c(b"", 2**32 - 1) == 2**32 - 1
    assert walx.unmask_crc(walx.mask_crc(2**32 - 1)) == 2**32 - 1
    assert walx.crc32c(bytearray(b"123456789")) == 0xE3069283



def _impl_in_subprocess(tmp_path, force_sw, mode=None):
    env = dict(os.environ)
    env.pop("WALX_CRC32C", None)
    if force_sw:
        env["WALX_CRC32C"] = "sw"
    if mode:
        env["WALX_CRC32C"] = mode
    out = subprocess.run([sys.executable, "-c", "import walx; print(walx.CRC32C_IMPL)"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_env_var_forces_software_implementation(tmp_path):
    if os.environ.get("WALX_CRC32C") == "sw":
        assert walx.CRC32C_IMPL == "software"
    elif walx._testing.crc32c_hw_available():
        assert walx.CRC32C_IMPL in HW_NAMES
    else:
        assert walx.CRC32C_IMPL == "software"
    assert _impl_in_subprocess(tmp_path, force_sw=True) == "software"
    default = _impl_in_subprocess(tmp_path, force_sw=False)
    if walx._testing.crc32c_hw_available():
        assert default in HW_NAMES
    else:
        assert default == "software"

    if FOLD:
        assert default == f"vpclmulqdq-{FOLD}"


def test_env_var_nofold_keeps_the_crc_instructions(tmp_path):
    name = _impl_in_subprocess(tmp_path, force_sw=False, mode="nofold")
    if walx._testing.crc32c_hw_available():
        assert name in {"sse4.2", "armv8-crc"}
    else:
        assert name == "software"


def test_env_var_rejects_an_unknown_mode(tmp_path):
    env = dict(os.environ, WALX_CRC32C="fastest")
    out = subprocess.run([sys.executable, "-c", "import walx"], cwd=tmp_path, env=env,
                         capture_output=True, text=True)
    assert out.returncode != 0
    assert "WALX_CRC32C" in out.stderr and "'fastest'" in out.stderr
