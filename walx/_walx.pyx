# cython: language_level=3, embedsignature=True, cdivision=False
"""walx._walx: the compiled core (framing, CRC32C, writer, reader, manager).

The root of the single extension module; the classes live in fragments
included below, in dependency order.
"""
cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyObject_GetBuffer, PyBuffer_Release
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.pystate cimport (PyInterpreterState, PyInterpreterState_Head,
                              PyInterpreterState_Next, PyInterpreterState_ThreadHead,
                              PyThreadState, PyThreadState_Next)
from libc.errno cimport EAGAIN, EBADF, EEXIST, EINVAL, ENOMEM, ENOTDIR, EOPNOTSUPP
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t
from libc.string cimport memcpy

from walx._clib cimport *

import logging
import os
import pathlib
import re
import threading
import warnings

from walx._enums import OpType, RecordType, RecoveryMode
from walx._errors import (Corruption, CorruptionError, RepairedCorruption, WalClosedError,
                          WalError, WalLockedError, WalPoisonedError)

BLOCK_SIZE = WALX_BLOCK_SIZE
HEADER_SIZE = WALX_HEADER_SIZE
RECYCLABLE_HEADER_SIZE = WALX_RECYCLABLE_HEADER_SIZE
#: 1 in the WALX_DEBUG=1 build profile.
DEBUG_BUILD = WALX_DEBUG

_log = logging.getLogger("walx")

include "_common.pxi"
include "_fsops.pyx"
include "_crc32c.pyx"
include "_hooks.pyx"
include "_writer.pyx"
include "_batch.pyx"
include "_physical.pyx"
include "_reader.pyx"
include "_repair.pyx"
include "_logfiles.pyx"
include "_manager.pyx"
include "_watermarks.pyx"
include "_recovery.pyx"
