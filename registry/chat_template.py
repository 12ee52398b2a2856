"""imitkit's default chat template, shared by token counting (mix) and training (finetune).

Tokenizers of base models (GPT-2, LLaMA-1 style) have no chat template. Both stages then
use FastChat's Vicuna v1.1 layout with ``{% generation %}`` markers, so the trainable
tokens a mixture is budgeted in are the tokens finetune will train on.
"""

from __future__ import annotations

from importlib import resources

DEFAULT_TEMPLATE_NAME = "imitkit default (Vicuna v1.1)"
_DEFAULT_TEMPLATE_FILE = "vicuna_v1_1.jinja"


def default_chat_template() -> str:
    return (resources.files("imitkit.registry") / "templates" / _DEFAULT_TEMPLATE_FILE).read_text(encoding="utf-8")
