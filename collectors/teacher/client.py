"""Calls through the official async ``openai`` client, with our own retry loop.

The client runs with ``max_retries=0``: retries here can honour ``Retry-After`` for
every worker at once, count attempts into the call log and respect the budget.
429, 5xx, timeouts, dropped connections and malformed bodies are retried with
exponential backoff and full jitter; other 4xx cannot succeed and are recorded.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from dataclasses import dataclass
from typing import Any, NamedTuple

from imitkit.collectors.teacher.errors import ConfigError
from imitkit.collectors.teacher.limits import RateLimiter

DEFAULT_KEY_ENV = "OPENAI_API_KEY"


@dataclass
class RetryPolicy:
    max_attempts: int = 6
    base_delay: float = 1.0
    max_delay: float = 60.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after + random.uniform(0, 0.1 * retry_after + 0.01)
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


@dataclass
class CallResult:
    body: dict[str, Any] | None  # the parsed response body when it succeeded
    latency: float
    attempts: int
    error: str | None = None
    http_status: int | None = None
    fatal: bool = False  # the key was refused: nothing else can succeed either


def api_key(env_name: str | None, base_url: str | None) -> str:
    """The key from the environment; never stored anywhere. Local servers often need none."""
    name = env_name or DEFAULT_KEY_ENV
    key = os.environ.get(name)
    if key:
        return key
    if base_url is None or "api.openai.com" in base_url:
        raise ConfigError(f"no API key: set {name} (or name another variable with --api-key-env)")
    return "none"  # vLLM, TGI and llama.cpp servers accept any key unless started with one


def make_client(key: str, base_url: str | None, timeout: float, concurrency: int = 64) -> Any:
    import openai

    # Keep a warm connection for every concurrent worker: reconnecting costs more than the call.
    limits = openai.DEFAULT_CONNECTION_LIMITS.__class__(max_connections=max(concurrency, 1) + 16,
                                                        max_keepalive_connections=max(concurrency, 1) + 16)
    http = openai.DefaultAsyncHttpxClient(limits=limits, timeout=timeout)
    return openai.AsyncOpenAI(api_key=key, base_url=base_url, max_retries=0, timeout=timeout, http_client=http)


class Attempt(NamedTuple):
    """One HTTP attempt, classified; small and picklable so worker processes can return it."""

    kind: str  # ok | retry (429, 5xx, timeout, connection) | fail (other 4xx) | fatal (401/403)
    content: bytes | None = None  # the raw body of a 2xx answer, parsed by the caller
    http_status: int | None = None
    error: str | None = None
    retry_after: float | None = None


async def attempt(client: Any, body: dict[str, Any]) -> Attempt:
    """Send one chat completion once; never raises for what the API or the network did."""
    import openai

    try:
        raw = await client.chat.completions.with_raw_response.create(**body)
        return Attempt("ok", raw.content, raw.status_code)
    except openai.APIStatusError as e:
        status = e.status_code
        kind = ("fatal" if status in (401, 403) else
                "fail" if status < 500 and status not in (408, 409, 429) else "retry")
        return Attempt(kind, None, status, f"{status}: {_message(e)}", _retry_after(e.response.headers))
    except openai.APITimeoutError:
        return Attempt("retry", None, None, "timed out")
    except openai.APIConnectionError as e:
        return Attempt("retry", None, None, f"connection error: {e.__cause__ or e}")


async def call(client: Any, body: dict[str, Any], policy: RetryPolicy, limiter: RateLimiter | None = None,
               tokens: int = 0) -> CallResult:
    """Send one chat completion, retrying what can succeed later.

    ``client`` is an ``AsyncOpenAI`` client, or a :class:`~.workers.WorkerPool` whose
    ``send_attempt`` runs the attempt in a worker process: retries, backoff and the
    limiter stay here either way, so a 429's pause holds back every worker.
    """
    send = getattr(client, "send_attempt", None) or (lambda b: attempt(client, b))
    started = time.monotonic()
    error, status = None, None
    for number in range(1, policy.max_attempts + 1):
        if limiter is not None:
            await limiter.acquire(tokens)
        outcome = await send(body)
        retry_after = None
        if outcome.kind == "ok":
            try:
                parsed = json.loads(outcome.content)
                if not isinstance(parsed, dict) or not isinstance(parsed.get("choices"), list):
                    raise ValueError("no choices")
                return CallResult(parsed, time.monotonic() - started, number, http_status=outcome.http_status)
            except ValueError as e:
                error, status = f"malformed response body ({e})", outcome.http_status
        else:
            error, status, retry_after = outcome.error, outcome.http_status, outcome.retry_after
            if outcome.kind in ("fatal", "fail"):
                return CallResult(None, time.monotonic() - started, number, error, status,
                                  fatal=outcome.kind == "fatal")
            if status == 429 and limiter is not None:
                limiter.pause(retry_after if retry_after is not None else policy.delay(number, None))
        if number < policy.max_attempts:
            await asyncio.sleep(policy.delay(number, retry_after))
    return CallResult(None, time.monotonic() - started, policy.max_attempts,
                      f"gave up after {policy.max_attempts} attempts: {error}", status)


def _message(e: Any) -> str:
    body = getattr(e, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            code = f" [{inner['code']}]" if inner.get("code") else ""
            return str(inner["message"]) + code
    return str(getattr(e, "message", e))


def _retry_after(headers: Any) -> float | None:
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value:
            try:
                return max(0.0, float(value) * scale)
            except ValueError:
                continue  # an HTTP date: fall back to backoff
    return None
