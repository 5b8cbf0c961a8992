from __future__ import annotations

import secrets

__all__ = ["TEST_LABEL", "unique_name"]

#: Every engine object a test creates carries this label, so a cleanup can find it.
TEST_LABEL = "docklord.test"


def unique_name(prefix: str = "t") -> str:
    """A name no other test (or earlier run) uses: ``dl-<prefix>-<8 hex>``."""
    return f"dl-{prefix}-{secrets.token_hex(4)}"
