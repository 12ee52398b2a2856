"""Choosing the chat template a run trains with.

Assistant-only loss needs a template whose assistant turns sit inside ``{% generation %}``
markers. In order of preference: ``--chat-template FILE``; the tokenizer's own template when it
has the markers; TRL's training variant of a known template (Qwen, Llama 3, Gemma, Phi …);
otherwise imitkit's default, FastChat's Vicuna v1.1 layout (``vicuna_v1_1.jinja``), which
needs no new tokens and trains the end-of-sequence token so the model learns to stop.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imitkit.finetune.errors import ChatTemplateError
from imitkit.registry import chat_template as registry_chat_template

DEFAULT_TEMPLATE_NAME = registry_chat_template.DEFAULT_TEMPLATE_NAME
_PROBE = [
    {"role": "system", "content": "S"},
    {"role": "user", "content": "U"},
    {"role": "assistant", "content": "A"},
    {"role": "user", "content": "U2"},
    {"role": "assistant", "content": "B"},
]


@dataclass(frozen=True)
class ChosenTemplate:
    text: str
    source: str  # where it came from, shown by the check pass and written to the model card
    notes: tuple[str, ...] = ()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def default_template() -> str:
    return registry_chat_template.default_chat_template()


def has_generation_markers(template: str | dict | None) -> bool:
    from trl.chat_template_utils import has_generation_markers as trl_has_markers

    return bool(template) and trl_has_markers(template)


def choose_template(tokenizer: Any, path: str | None, assistant_only: bool) -> ChosenTemplate:
    """Pick the template (see the module docstring) and check that it renders and masks."""
    notes: list[str] = []
    own = tokenizer.chat_template
    if isinstance(own, dict):
        own = own.get("default")
    if path:
        try:
            text = Path(path).expanduser().read_text(encoding="utf-8")
        except OSError as e:
            raise ChatTemplateError(f"cannot read chat template {path}: {e.strerror or e}") from e
        if assistant_only and not has_generation_markers(text):
            raise ChatTemplateError(
                f"chat template {path} has no {{% generation %}} markers, so the assistant's tokens cannot be "
                "told apart; wrap each assistant reply (and its end-of-turn token) in "
                "{% generation %}…{% endgeneration %}, or set assistant_only_loss false")
        chosen = ChosenTemplate(text, f"--chat-template {path}")
    elif own and (has_generation_markers(own) or not assistant_only):
        chosen = ChosenTemplate(own, "the tokenizer's own")
    elif own:
        from trl.chat_template_utils import get_training_chat_template

        try:
            patched = get_training_chat_template(tokenizer)
        except (ValueError, TypeError):
            patched = None
        if patched:
            chosen = ChosenTemplate(patched, "TRL's training variant of the tokenizer's template")
        else:
            notes.append("the tokenizer's own template has no {% generation %} markers and no known training "
                         "variant, so the default template replaces it; pass --chat-template to keep its layout")
            chosen = ChosenTemplate(default_template(), DEFAULT_TEMPLATE_NAME)
    else:
        chosen = ChosenTemplate(default_template(), DEFAULT_TEMPLATE_NAME)
    if chosen.source == DEFAULT_TEMPLATE_NAME and not tokenizer.eos_token:
        raise ChatTemplateError("the default chat template ends each assistant turn with the tokenizer's eos_token, "
                                "and this tokenizer has none; pass --chat-template")
    notes.extend(_probe(tokenizer, chosen.text, assistant_only))
    return ChosenTemplate(chosen.text, chosen.source, tuple(notes))


def _probe(tokenizer: Any, template: str, assistant_only: bool) -> list[str]:
    """Render a tiny conversation; a template that cannot render fails here, not mid-run."""
    try:
        out = tokenizer.apply_chat_template(_PROBE, chat_template=template, tokenize=True, return_dict=True,
                                            return_assistant_tokens_mask=assistant_only)
    except Exception as e:  # jinja raises TemplateError, and templates raise their own exceptions
        raise ChatTemplateError(f"the chat template fails to render a simple conversation: {e}") from e
    if not assistant_only:
        return []
    if 1 not in out["assistant_masks"]:
        raise ChatTemplateError("the chat template marks no assistant tokens on a simple conversation; "
                                "check its {% generation %} markers")
    from trl.chat_template_utils import is_chat_template_stop_token_trained

    if not is_chat_template_stop_token_trained(tokenizer, chat_template=template):
        return ["the assistant's end-of-turn token falls outside {% generation %}: the model may not learn to stop"]
    return []
