"""Test doubles and helpers shipped with Docklord, reused by its tests and benchmarks."""

from __future__ import annotations

from docklord.testing._eventually import eventually
from docklord.testing._names import TEST_LABEL, unique_name

__all__ = ["TEST_LABEL", "eventually", "unique_name"]
