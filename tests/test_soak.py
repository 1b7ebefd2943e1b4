"""A few seconds of the seeded soak (`tests/soak.py`) in the normal test run."""

from __future__ import annotations

import pytest

import helpers as H
import soak

needs_dynmem = pytest.mark.skipif(not H.HAVE_DYNMEM, reason="dynmem not built")


@needs_dynmem
def test_soak_short() -> None:
    """One seeded batch of 30 scenarios (the same ones every run), every
    operation checked against the reference as in the differential tests."""
    done, scenarios = soak.soak(1, 1, examples=30, quiet=True)
    assert scenarios == 30 and done >= 30
