"""How repeated sign-in failures are slowed, then locked: a pure policy over failure counts.

The first `free` failures cost nothing. Each further one makes the next attempt wait twice as long
(1 s, 2 s, 4 s ... at most `MAX_DELAY_S`). At `lock_after` failures within the window the account is
locked for `lock_s` from the last failure; an address is locked at `ADDRESS_FACTOR` times that, so
one address cannot try many accounts. Refused attempts are logged but not counted as failures, so
hammering a locked account does not extend the lock forever.

Every allowed attempt counts as a failure from the moment it is allowed until its password turns out
right (`dashboard.core.auth.signin` decides and records it in one locked step), so attempts made in
parallel are counted one after another, never all against the same old count.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_DELAY_S = 60.0
ADDRESS_FACTOR = 5


@dataclass(frozen=True, slots=True)
class Policy:
    free: int = 3
    lock_after: int = 10
    window_s: float = 900.0
    lock_s: float = 900.0

    @classmethod
    def from_settings(cls, settings) -> Policy:
        return cls(
            settings.login_free_failures, settings.login_lock_after, settings.login_window_s, settings.login_lock_s
        )


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    retry_after_s: float = 0.0
    reason: str = ""  # "slowed" or "locked", and for what ("account" or "address")


def wait_after(
    failures: int, last_failure: float | None, now: float, free: int, lock_after: int, lock_s: float
) -> tuple[float, str]:
    """Seconds still to wait and why ("" when none), given `failures` and when the last one was."""
    if failures <= free or last_failure is None:
        return 0.0, ""
    if failures >= lock_after:
        return max(0.0, last_failure + lock_s - now), "locked"
    delay = min(MAX_DELAY_S, 2.0 ** (failures - free - 1))
    return max(0.0, last_failure + delay - now), "slowed"


def decide(
    policy: Policy, now: float, account: tuple[int, float | None], address: tuple[int, float | None]
) -> Decision:
    """May a sign-in be attempted now? `account` and `address` are (failures, last failure time)."""
    checks = (
        ("account", account, policy.free, policy.lock_after),
        ("address", address, policy.free * ADDRESS_FACTOR, policy.lock_after * ADDRESS_FACTOR),
    )
    for what, (count, last), free, lock_after in checks:
        wait, why = wait_after(count, last, now, free, lock_after, policy.lock_s)
        if wait > 0:
            return Decision(False, wait, f"{why} ({what})")
    return Decision(True)


def locks_now(policy: Policy, account_failures: int, address_failures: int) -> list[str]:
    """What the latest failure locked ("account", "address"): those whose count, this failure included,
    has reached its lock. The attempt was allowed, so neither was locked before it."""
    locked = []
    if account_failures >= policy.lock_after:
        locked.append("account")
    if address_failures >= policy.lock_after * ADDRESS_FACTOR:
        locked.append("address")
    return locked
