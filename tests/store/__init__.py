"""Tests of docklord.store."""
