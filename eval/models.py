"""Models under test: ``openai:MODEL[@BASE_URL]`` or a local path / hub id run with transformers.

Both expose ``generate`` (raw prompts), ``chat`` (message lists) and ``name``; local
models add ``choice_logprobs`` (MMLU letters) and ``assistant_nll`` (held-out loss).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imitkit.eval.errors import ModelCallError, ModelSpecError

API_PREFIX = "openai:"


@dataclass(frozen=True)
class ModelSpec:
    kind: str  # local | openai
    name: str  # path, hub id or API model name
    base_url: str | None = None

    @property
    def is_local_dir(self) -> bool:
        return self.kind == "local" and Path(self.name).expanduser().is_dir()


def parse_spec(spec: str) -> ModelSpec:
    spec = spec.strip()
    if not spec:
        raise ModelSpecError("empty model spec")
    if spec.startswith(API_PREFIX):
        model, _, base_url = spec[len(API_PREFIX):].partition("@")
        if not model:
            raise ModelSpecError(f"{spec!r}: expected openai:MODEL[@BASE_URL]")
        if base_url and not base_url.startswith(("http://", "https://")):
            raise ModelSpecError(f"{spec!r}: BASE_URL must start with http:// or https://")
        return ModelSpec("openai", model, base_url or None)
    return ModelSpec("local", spec)


def load_model(spec: str | ModelSpec, batch_size: int = 8, device: str | None = None,
               concurrency: int = 8) -> Any:
    parsed = parse_spec(spec) if isinstance(spec, str) else spec
    if parsed.kind == "openai":
        return ApiModel(parsed, concurrency=concurrency)
    from imitkit.eval.local_model import LocalModel

    return LocalModel(parsed, batch_size=batch_size, device=device)


class ApiModel:
    """Any OpenAI-compatible chat endpoint, called through the official ``openai`` client."""

    kind = "openai"

    def __init__(self, spec: ModelSpec, concurrency: int = 8, timeout: float = 120.0, max_retries: int = 2):
        from openai import OpenAI

        key = os.environ.get("OPENAI_API_KEY")
        if not key and not spec.base_url:
            raise ModelSpecError(f"openai:{spec.name} needs OPENAI_API_KEY (or an @BASE_URL that takes none)")
        self.spec = spec
        self.name = spec.name
        self.concurrency = max(1, concurrency)
        # Local OpenAI-compatible servers (vLLM, the teacher proxy) accept any key.
        self.client = OpenAI(api_key=key or "EMPTY", base_url=spec.base_url, timeout=timeout,
                             max_retries=max_retries)

    def chat(self, conversations: list[list[dict[str, str]]], max_new_tokens: int = 512,
             stop: list[str] | None = None, temperature: float = 0.0) -> list[str]:
        def one(messages: list[dict[str, str]]) -> str:
            import openai

            try:
                response = self.client.chat.completions.create(
                    model=self.name, messages=[{"role": m["role"], "content": m["content"]} for m in messages],
                    max_tokens=max_new_tokens, temperature=temperature, stop=stop or None)
            except openai.OpenAIError as e:
                raise ModelCallError(f"openai:{self.name}: {type(e).__name__}: {e}") from e
            if not response.choices:
                raise ModelCallError(f"openai:{self.name}: the response has no choices")
            return response.choices[0].message.content or ""

        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(one, conversations))

    def generate(self, prompts: list[str], max_new_tokens: int = 64, stop: list[str] | None = None,
                 temperature: float = 0.0) -> list[str]:
        outputs = self.chat([[{"role": "user", "content": p}] for p in prompts], max_new_tokens, stop, temperature)
        return [truncate_at_stop(o, stop) for o in outputs]

    def settings(self) -> dict[str, Any]:
        return {"kind": self.kind, "model": self.name, "base_url": self.spec.base_url}


def truncate_at_stop(text: str, stop: list[str] | None) -> str:
    cut = len(text)
    for s in stop or ():
        at = text.find(s)
        if at != -1:
            cut = min(cut, at)
    return text[:cut]
