"""Builds the single extension module walx._walx: walx/_walx.pyx (which
includes the other fragments) and the C core in csrc/ (docs/development.md)."""
import os
import sys
from glob import glob

from setuptools import Extension, setup

if sys.platform == "win32":
    sys.exit("error: walx is POSIX-only (Linux, macOS) and does not build on Windows: its "
             "C I/O layer calls write/fdatasync/flock directly. Binary wheels exist for "
             "Linux and macOS; on Windows, use WSL. See docs/wheels.md (in the sdist and "
             "the repository) and the README's 'Wheels' section.")

from Cython.Build import cythonize  # noqa: E402
from Cython.Compiler import Options  # noqa: E402

DEBUG = os.environ.get("WALX_DEBUG") == "1"
ANNOTATE = os.environ.get("WALX_ANNOTATE") == "1"
SANITIZE = os.environ.get("WALX_SANITIZE") == "1"

if os.environ.get("CI"):
    Options.warning_errors = True

cflags = ["-std=c11", "-Wall"]
ldflags = []
macros = []
directives = {}
if DEBUG:
    cflags += ["-O0", "-g", "-UNDEBUG"]
    macros += [("WALX_DEBUG", "1"), ("CYTHON_TRACE", "1"), ("CYTHON_TRACE_NOGIL", "1")]
    directives["linetrace"] = True
else:
    cflags += os.environ.get("WALX_CFLAGS", "-O2").split() + ["-DNDEBUG"]
if SANITIZE:
    cflags += ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-g"]
    ldflags += ["-fsanitize=address,undefined"]

ext = Extension(
    "walx._walx",
    sources=["walx/_walx.pyx", "csrc/walx_frame.c", "csrc/walx_parse.c", "csrc/walx_writer.c",
             "csrc/walx_io.c", "csrc/walx_queue.c", "csrc/walx_crc32c.c", "csrc/walx_crc32c_fold.c",
             "csrc/walx_testing.c"],
    include_dirs=["csrc"],
    depends=glob("csrc/*.h") + glob("walx/*.pxd") + glob("walx/_*.pyx") + glob("walx/*.pxi"),
    extra_compile_args=cflags,
    extra_link_args=ldflags,
    define_macros=macros,
)

setup(
    ext_modules=cythonize([ext], compiler_directives=directives, annotate=ANNOTATE,
                          emit_linenums=DEBUG),
)
