"""The one Role enum: stored by its text, ordered by its power."""

from __future__ import annotations

import pytest

import docklord.store
import docklord.web
from docklord.model import Role


def test_one_role_enum_serves_the_store_and_the_api() -> None:
    assert docklord.store.Role is Role and docklord.web.Role is Role


def test_roles_order_by_power_not_by_text() -> None:
    assert Role.VIEWER < Role.OPERATOR < Role.ADMIN
    assert Role.ADMIN >= Role.OPERATOR and not Role.VIEWER >= Role.OPERATOR
    assert max(Role) is Role.ADMIN and min(Role.ADMIN, Role.VIEWER) is Role.VIEWER
    assert [r.value for r in Role] == ["admin", "operator", "viewer"]
    # A bare rank compares too (0: no role), either way round.
    assert Role.VIEWER > 0 and Role.ADMIN >= 3 and not Role.OPERATOR < 2
    assert min(Role.ADMIN, 0) == 0 and max(1, Role.OPERATOR) is Role.OPERATOR


def test_roles_parse_cap_and_print() -> None:
    assert Role.parse("Operator") is Role.OPERATOR and Role("viewer") is Role.VIEWER
    assert Role.ADMIN.label == "admin" == Role.ADMIN
    assert Role.ADMIN.capped(Role.VIEWER) is Role.VIEWER
    assert Role.VIEWER.capped(Role.ADMIN) is Role.VIEWER
    assert Role.OPERATOR.capped(None) is Role.OPERATOR
    with pytest.raises(KeyError):
        Role.parse("root")
