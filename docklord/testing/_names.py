from __future__ import annotations

import os
import secrets

__all__ = ["TEST_LABEL", "TEST_RUN", "unique_name"]

#: Every engine object a test creates carries this label, so a cleanup can find it.
TEST_LABEL = "docklord.test"

#: The label's value on what this test process creates. The key says "made by a test", the
#: value which process made it: the clean-up at the end of a session removes only its own
#: objects, never those of another session, bench or soak using the same engine at the time.
TEST_RUN = f"run-{os.getpid()}-{secrets.token_hex(3)}"


def unique_name(prefix: str = "t") -> str:
    """A name no other test (or earlier run) uses: ``dl-<prefix>-<8 hex>``."""
    return f"dl-{prefix}-{secrets.token_hex(4)}"
