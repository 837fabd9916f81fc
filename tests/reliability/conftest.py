"""Fixtures of the reliability suites; their helpers are ../reliability.py."""

import pytest

from walx import _testing as T


@pytest.fixture
def disarmed():
    """The fault-injection hook disarmed before and after the test."""
    T.fault_disarm()
    yield
    T.fault_disarm()
