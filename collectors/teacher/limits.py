"""Limits shared by all concurrent workers: requests and tokens per minute, and money.

Both rate limits are token buckets refilled continuously, holding at most one second
of budget so that a burst cannot spend a minute's quota at once. A 429's
``Retry-After`` pauses every worker, not just the one that got it.
"""

from __future__ import annotations

import asyncio
import time


class Bucket:
    def __init__(self, per_minute: float):
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate)
        self.level = self.capacity
        self.stamp = time.monotonic()

    def wait_time(self, amount: float) -> float:
        """Seconds until ``amount`` may be taken (0: take it now). A request larger than the
        bucket goes through once the bucket is full, leaving it in debt."""
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now
        need = min(amount, self.capacity)
        return 0.0 if self.level >= need else (need - self.level) / self.rate

    def take(self, amount: float) -> None:
        self.level -= amount

    def give_back(self, amount: float) -> None:
        self.level = min(self.capacity, self.level + amount)


class RateLimiter:
    """``await acquire(tokens)`` before each request; ``settle`` corrects the token estimate."""

    def __init__(self, rpm: float | None = None, tpm: float | None = None):
        self.requests = Bucket(rpm) if rpm else None
        self.tokens = Bucket(tpm) if tpm else None
        self.paused_until = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self, tokens: int) -> None:
        async with self._lock:  # one waiter at a time keeps the order fair
            while True:
                wait = self.paused_until - time.monotonic()
                if self.requests:
                    wait = max(wait, self.requests.wait_time(1))
                if self.tokens:
                    wait = max(wait, self.tokens.wait_time(tokens))
                if wait <= 0:
                    break
                await asyncio.sleep(wait)
            if self.requests:
                self.requests.take(1)
            if self.tokens:
                self.tokens.take(tokens)

    def settle(self, estimated: int, actual: int) -> None:
        if self.tokens and actual < estimated:
            self.tokens.give_back(estimated - actual)
        elif self.tokens:
            self.tokens.take(actual - estimated)

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, time.monotonic() + seconds)


class Budget:
    """Money for this run: a request is sent only if its worst case still fits."""

    def __init__(self, limit_usd: float | None):
        self.limit = limit_usd
        self.spent = 0.0
        self.reserved = 0.0
        self.exhausted = False

    def reserve(self, worst_case: float) -> bool:
        if self.limit is None:
            return True
        if self.spent + self.reserved + worst_case > self.limit:
            self.exhausted = True
            return False
        self.reserved += worst_case
        return True

    def settle(self, reserved: float, actual: float) -> None:
        if self.limit is not None:
            self.reserved -= reserved
        self.spent += actual
