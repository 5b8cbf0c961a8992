from __future__ import annotations

import docklord.store


def test_public_surface_is_pinned() -> None:
    assert sorted(docklord.store.__all__) == sorted(
        [
            "TOUCH_INTERVAL",
            "UNSET",
            "Alert",
            "AlertChannel",
            "AlertDelivery",
            "AlertRule",
            "ApiToken",
            "AuditEntry",
            "Clock",
            "EnrollmentToken",
            "Instance",
            "NodeAuth",
            "NodeRecord",
            "NodeVerification",
            "Role",
            "Session",
            "Store",
            "Unset",
            "User",
            "hash_password",
            "needs_rehash",
            "new_token",
            "token_digest",
            "verify_password",
        ]
    )


def test_every_exported_member_exists_and_is_documented() -> None:
    for name in docklord.store.__all__:
        member = getattr(docklord.store, name)
        if callable(member) and not name.isupper():
            assert member.__doc__, f"{name} has no docstring"
