"""What to send: prompts become requests, each sample with its own fingerprint.

A fingerprint covers model, parameters, messages and sample index (not the endpoint
or key), so the same request to a proxy of the same model is not paid for twice.
Samples of one prompt that are still missing go out as one request with ``n``.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any, Iterable

from imitkit.registry.records import canonical_json

FINGERPRINT_PREFIX = "tc:"
MESSAGE_OVERHEAD = 4  # tokens OpenAI's chat format adds per message (and 3 to prime the reply)


@dataclass(slots=True)
class Prompt:
    text: str
    index: int  # position in its source, kept as provenance
    system: str | None = None


def fingerprint(model: str, params: dict[str, Any], messages: list[dict[str, Any]], sample: int) -> str:
    body = canonical_json({"model": model, "params": params, "messages": messages, "sample": sample})
    return FINGERPRINT_PREFIX + hashlib.blake2b(body.encode("utf-8"), digest_size=16).hexdigest()


def estimate_tokens(text: str) -> int:
    """About 4 characters per token: close for English with OpenAI's tokenizers, and needs no download."""
    return max(1, math.ceil(len(text) / 4))


def estimate_prompt_tokens(messages: list[dict[str, Any]]) -> int:
    return sum(estimate_tokens(m["content"]) + MESSAGE_OVERHEAD for m in messages) + 3


@dataclass(slots=True)
class Request:
    """One HTTP request: a prompt's missing samples, sent with ``n = len(samples)``."""

    key: str  # the first sample's fingerprint: names the request (and its batch custom_id)
    prompt_index: int
    messages: list[dict[str, Any]]
    samples: list[int]
    fingerprints: list[str]
    prompt_tokens: int  # estimated

    @property
    def n(self) -> int:
        return len(self.samples)

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "prompt_index": self.prompt_index, "messages": self.messages,
                "samples": self.samples, "fingerprints": self.fingerprints,
                "prompt_tokens": self.prompt_tokens}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> "Request":
        return cls(raw["key"], raw["prompt_index"], raw["messages"], raw["samples"], raw["fingerprints"],
                   raw["prompt_tokens"])


def build_messages(prompt: Prompt, system: str | None) -> list[dict[str, Any]]:
    chosen = prompt.system if prompt.system is not None else system
    messages = [{"role": "system", "content": chosen}] if chosen else []
    return messages + [{"role": "user", "content": prompt.text}]


def plan_requests(prompts: Iterable[Prompt], model: str, params: dict[str, Any], system: str | None,
                  samples: int, answered: set[str]) -> tuple[list[Request], int]:
    """Requests for every (prompt, sample) not yet answered; also return how many were skipped."""
    requests, skipped, seen = [], 0, set()
    for prompt in prompts:
        messages = build_messages(prompt, system)
        missing, prints = [], []
        for sample in range(samples):
            fp = fingerprint(model, params, messages, sample)
            if fp in answered or fp in seen:
                skipped += 1
                continue
            seen.add(fp)
            missing.append(sample)
            prints.append(fp)
        if missing:
            requests.append(Request(prints[0], prompt.index, messages, missing, prints,
                                    estimate_prompt_tokens(messages)))
    return requests, skipped
