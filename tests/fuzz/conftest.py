"""Fixtures of the fuzz tier: a coordinator with simulated nodes, in process, and budgets.

``DOCKLORD_FUZZ_EXAMPLES`` sets how many examples each fuzzed operation or WebSocket handler
gets (default: the small number the suite can afford); ``DOCKLORD_FUZZ_SEED`` fixes the seed of
a long run (the suite runs derandomized, so that it fails the same way every time). See
docs/DEVELOPMENT.md, "Fuzzing".
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import structlog
from hypothesis import HealthCheck, settings

from tests.fuzz._fleet import FuzzFleet

#: Examples per operation and role in the suite (about 10 ms each, schemathesis's generation
#: included: 51 operations x 2 roles x 5 take about 30 s).
HTTP_EXAMPLES = 5
#: Examples per WebSocket handler in the suite (a conversation takes a few milliseconds).
WS_EXAMPLES = 30


def fuzz_examples(default: int) -> int:
    """How many examples each fuzz target gets: ``DOCKLORD_FUZZ_EXAMPLES`` or ``default``."""
    return int(os.environ.get("DOCKLORD_FUZZ_EXAMPLES", default))


def fuzz_phases() -> list[str]:
    """Schemathesis phases: ``DOCKLORD_FUZZ_PHASES`` (comma-separated), else examples and
    fuzzing (the coverage phase's few hundred boundary cases per operation are for long runs)."""
    raw = os.environ.get("DOCKLORD_FUZZ_PHASES", "examples,fuzzing")
    return [p.strip() for p in raw.split(",") if p.strip()]


def fuzz_settings(examples: int) -> settings:
    """Hypothesis settings of a fuzz target: bounded, no example database, no deadline.

    Derandomized unless ``DOCKLORD_FUZZ_SEED`` is set (a long run explores other inputs).
    """
    return settings(
        max_examples=fuzz_examples(examples),
        deadline=None,
        database=None,
        derandomize="DOCKLORD_FUZZ_SEED" not in os.environ,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.function_scoped_fixture,
        ],
        print_blob=True,
    )


@pytest.fixture(scope="package", autouse=True)
def plain_tracebacks() -> Iterator[None]:
    """Log as JSON lines while fuzzing, tracebacks as plain text.

    Left unconfigured, structlog renders each traceback with rich and its local variables,
    which takes seconds per unhandled error on the event loop: every 500 a fuzzer finds would
    stall the run. (The coordinator's own ``configure`` is a separate matter, issue 9 item 2.)
    """
    saved = structlog.get_config()
    structlog.configure(
        processors=[
            structlog.stdlib.add_log_level,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.PrintLoggerFactory(),
        cache_logger_on_first_use=False,
    )
    try:
        yield
    finally:
        structlog.configure(**saved)


@pytest.fixture(scope="package")
def fuzz_fleet() -> Iterator[FuzzFleet]:
    """A started :class:`FuzzFleet`: a coordinator with simulated nodes, in process."""
    fleet = FuzzFleet()
    fleet.start()
    try:
        yield fleet
    finally:
        fleet.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The fuzz figures of the run: HTTP cases per operation, conversations per route."""
    from tests.fuzz import test_openapi_fuzz, test_websocket_fuzz

    for title, counts in (
        ("HTTP cases (schemathesis), by operation", test_openapi_fuzz.CASES),
        ("WebSocket conversations (hypothesis), by route", test_websocket_fuzz.CONVERSATIONS),
    ):
        if counts:
            terminalreporter.write_line(f"fuzz: {sum(counts.values())} {title} ({len(counts)}):")
            for name, n in counts.most_common():
                terminalreporter.write_line(f"  {n:7d}  {name}")
