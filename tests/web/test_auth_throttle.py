"""Login throttling: per account and per address, exponential locks, no sleeping."""

from __future__ import annotations

import pytest

from docklord.web._throttle import LoginThrottle, TooManyAttempts, node_keys


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fail(throttle: LoginThrottle, *keys: str) -> None:
    throttle.attempt(keys)
    throttle.failed(keys)


def test_account_locks_after_free_failures_with_doubling_delay() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock=clock, free=3, free_address=100)
    keys = ("user:alice", "addr:10.0.0.1")
    for _ in range(2):
        fail(throttle, *keys)
    assert throttle.retry_after(keys) == 0
    fail(throttle, *keys)  # third failure: locked for 1 s
    with pytest.raises(TooManyAttempts) as locked:
        throttle.attempt(keys)
    assert locked.value.retry_after == 1 and locked.value.status == 429
    clock.now += 1.0
    fail(throttle, *keys)  # fourth: 2 s
    assert throttle.retry_after(keys) == pytest.approx(2.0)
    clock.now += 2.0
    fail(throttle, *keys)  # fifth: 4 s
    assert throttle.retry_after(keys) == pytest.approx(4.0)


def test_a_locked_attempt_is_not_counted_and_other_accounts_are_free() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock=clock, free=2, free_address=100)
    fail(throttle, "user:alice", "addr:a")
    fail(throttle, "user:alice", "addr:a")
    for _ in range(10):
        with pytest.raises(TooManyAttempts):
            throttle.attempt(("user:alice", "addr:a"))
    assert throttle.retry_after(("user:alice",)) == pytest.approx(1.0)
    throttle.attempt(("user:bob", "addr:a"))


def test_success_clears_the_account_and_takes_back_the_address_strike() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock=clock, free=3, free_address=3)
    keys = ("user:alice", "addr:a")
    fail(throttle, *keys)
    fail(throttle, *keys)
    throttle.attempt(keys)  # the third attempt would lock both keys...
    throttle.succeeded(keys)  # ...but it succeeded
    assert throttle.retry_after(keys) == 0
    fail(throttle, *keys)
    assert throttle.retry_after(("user:alice",)) == 0  # the account starts afresh...
    assert throttle.retry_after(("addr:a",)) == pytest.approx(1.0)  # ...3 failures from here


def test_address_lock_covers_every_account() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock=clock, free=100, free_address=4)
    for n in range(4):
        fail(throttle, f"user:u{n}", "addr:a")
    with pytest.raises(TooManyAttempts):
        throttle.attempt(("user:someone-else", "addr:a"))
    throttle.attempt(("user:someone-else", "addr:b"))


def test_strikes_are_forgotten_after_a_quiet_period_and_delays_are_capped() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock=clock, free=1, max_delay=60.0, forget_after=600.0)
    for _ in range(40):
        fail(throttle, "user:x")
        clock.now += throttle.retry_after(("user:x",))
    assert throttle.retry_after(("user:x",)) == 0
    fail(throttle, "user:x")
    assert throttle.retry_after(("user:x",)) == pytest.approx(60.0)
    clock.now += 601
    fail(throttle, "user:x")  # afresh: first failure past the allowance of 1
    assert throttle.retry_after(("user:x",)) == pytest.approx(1.0)


def test_memory_stays_bounded() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock=clock, max_keys=100)
    for n in range(1000):
        clock.now += 0.001
        fail(throttle, f"user:{n}")
    assert len(throttle) <= 100


def test_the_lock_starts_when_the_failure_is_known() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock=clock, free=1)
    throttle.attempt(["user:slow"])
    clock.now += 5.0  # checking the password took long
    throttle.failed(["user:slow"])
    assert throttle.retry_after(["user:slow"]) == pytest.approx(1.0)


def guess(throttle: LoginThrottle, node: str, source: str) -> None:
    keys = node_keys(throttle, node, source)
    throttle.attempt(keys)
    throttle.failed(keys)


def prove(throttle: LoginThrottle, node: str, source: str) -> None:
    keys = node_keys(throttle, node, source)
    throttle.attempt(keys)
    throttle.succeeded(keys)
    throttle.trust(keys[0])


def test_a_stranger_locks_only_its_own_source_out_of_a_node() -> None:
    throttle = LoginThrottle(clock=Clock(), free=5, free_address=20, free_node=100)
    for _ in range(5):
        guess(throttle, "n1", "10.0.0.66")
    with pytest.raises(TooManyAttempts):
        throttle.attempt(node_keys(throttle, "n1", "10.0.0.66"))
    prove(throttle, "n1", "10.0.0.1")  # the owner, from elsewhere, gets in
    prove(throttle, "n1", "10.0.0.1")


def test_a_campaign_from_many_sources_hits_the_node_ceiling_but_not_trusted_sources() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock=clock, free=5, free_address=20, free_node=30)
    prove(throttle, "n1", "10.0.0.1")  # the owner's usual place
    for n in range(30):
        guess(throttle, "n1", f"10.1.0.{n}")
    with pytest.raises(TooManyAttempts):  # a new source meets the ceiling...
        throttle.attempt(node_keys(throttle, "n1", "10.2.0.1"))
    prove(throttle, "n1", "10.0.0.1")  # ...the owner's known source does not
    # The owner's success does not wipe out the campaign's strikes: still locked for others.
    with pytest.raises(TooManyAttempts):
        throttle.attempt(node_keys(throttle, "n1", "10.2.0.2"))
    clock.now += 8 * 86400  # trust runs out after a week without a success
    assert "node:n1" in node_keys(throttle, "n1", "10.0.0.1")
