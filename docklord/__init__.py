"""Docklord: manage and monitor Docker containers across many hosts, live, from one place."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
