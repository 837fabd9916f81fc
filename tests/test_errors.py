"""Bad input: wrong argument types and values, closed objects, OS errors
(errno -> OSError subclass with filename), garbage files, and the
ResourceWarning of an unclosed writer."""

import array
import gc
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import textwrap
import tracemalloc
import warnings

import pytest

import walx

BLOCK = walx.BLOCK_SIZE
MODES = list(walx.RecoveryMode)


# ---- argument types and values ------------------------------------------------------

# ---- closed objects ---------------------------------------------------------------------


# ---- OS errors ----------------------------------------------------------------------------


# ---- garbage files ---------------------------------------------------------------------------


# ---- unclosed writer ------------------------------------------------------------------------


