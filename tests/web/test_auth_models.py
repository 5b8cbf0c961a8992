"""Request bodies that carry secrets never show them in a repr (tracebacks, debug logs)."""

from __future__ import annotations

from docklord.web._identity import NewUser, UserChange
from docklord.web._sign_in import Login, PasswordChange


def test_passwords_stay_out_of_reprs() -> None:
    secret = "correct-horse-battery"
    bodies = [
        Login(username="alice", password=secret),
        PasswordChange(old_password=secret, new_password=secret + "!"),
        NewUser(username="alice", password=secret),
        UserChange(password=secret),
    ]
    for body in bodies:
        assert secret not in repr(body) and secret not in str(body)
    assert "alice" in repr(bodies[0])
