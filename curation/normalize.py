"""``normalize``: HTML to Markdown, web-UI artefacts, Unicode NFC and whitespace.

Follows FastChat's ``clean_sharegpt.py``: ShareGPT web dumps hold each answer as the
page's HTML, with "Copy code" buttons inside code blocks, "1 / 2" regenerate pagers and
"Copy N chars / M words" counters. A message left empty is removed from its conversation;
the raw messages stay in ``t_conversation`` and the result is stored as a new version.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from imitkit.curation.config import opt
from imitkit.curation.step import Step, Verdict

# Block-level tags, opened and closed, outside code: a turn that holds them is an HTML page,
# not Markdown that mentions `<p>` or shows a tag in a code sample (or a <br> in a table).
_HTML_BLOCK = re.compile(r"<(p|div|pre|ol|ul|li|h[1-6]|table|blockquote)\b[^>]*>", re.IGNORECASE)
_HTML_CLOSE = re.compile(r"</(p|div|pre|ol|ul|li|h[1-6]|table|blockquote)>", re.IGNORECASE)
_FENCE = re.compile(r"```.*?(?:```|$)", re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_DIV = re.compile(r"<div.*?>")
_SPAN = re.compile(r"<span.*?>")
_CODE_LANG = re.compile(r"```\s*(.*?)(?:Copy code)+(.+?)\s*?```", re.DOTALL)
_PAGER = re.compile(r"^\s*\d+\s*/\s*\d+(?=\s|$)")
_COPY_CHARS = re.compile(r"Copy\d+ chars / \d+ words")
_EMPTY_COPY_CODE = re.compile(r"```(.*?)Copy code\s*```")
_COPY_CODE = re.compile(r"(?m)^(\s*\w*)Copy code\s*$")
_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")
_TRAILING_SPACE = re.compile(r"[ \t]+$", re.MULTILINE)
_BLANK_LINES = re.compile(r"\n{3,}")


def looks_like_html(text: str) -> bool:
    if "</" not in text:
        return False
    prose = _INLINE_CODE.sub("", _FENCE.sub("", text))
    return len(_HTML_BLOCK.findall(prose)) >= 2 and _HTML_CLOSE.search(prose) is not None


def html_to_markdown(text: str) -> str:
    from markdownify import markdownify

    text = _SPAN.sub("", _DIV.sub("", text))  # as FastChat: keeps indentation and underscores in code
    text = markdownify(text).strip()
    return _CODE_LANG.sub(lambda m: f"```{m.group(1).strip()}\n{m.group(2).strip()}\n```", text)


def remove_artefacts(text: str) -> str:
    if "/" in text[:40]:
        text = _PAGER.sub("", text, count=1)
    if "Copy" in text:  # a guard: most turns have none, and each regex scans the whole text
        text = _COPY_CHARS.sub("", text)
        text = _EMPTY_COPY_CODE.sub("", text)
        text = _COPY_CODE.sub(lambda m: m.group(1), text)
    return text


class Normalize(Step):
    name = "normalize"
    parallel = True
    transforms = True

    @dataclass
    class Config:
        html_to_markdown: bool = opt(True, "Convert turns that are HTML pages (ShareGPT web dumps) to Markdown (markdownify).")
        remove_ui_artefacts: bool = opt(True, "Remove 'Copy code', '1 / 2' pagers and 'Copy N chars / M words'.")
        unicode_form: str = opt("NFC", "Unicode normalisation form.", ("NFC", "NFKC", "none"))
        whitespace: bool = opt(True, "Unify newlines, strip trailing spaces and zero-width characters, collapse blank lines.")

    def clean(self, text: str, stats: dict) -> str:
        c = self.config
        if c.html_to_markdown and looks_like_html(text):
            text = html_to_markdown(text)
            stats["html"] += 1
        if c.remove_ui_artefacts:
            text = remove_artefacts(text)
        if c.unicode_form != "none":
            text = unicodedata.normalize(c.unicode_form, text)
        if c.whitespace:
            if "\r" in text:
                text = text.replace("\r\n", "\n").replace("\r", "\n")
            if not text.isascii():
                text = _ZERO_WIDTH.sub("", text)
            if " \n" in text or "\t\n" in text:
                text = _TRAILING_SPACE.sub("", text)
            if "\n\n\n" in text:
                text = _BLANK_LINES.sub("\n\n", text)
        return text.strip()

    def judge(self, rows: list[dict]) -> list[Verdict]:
        out = []
        for row in rows:
            stats = {"html": 0, "changed": 0, "removed": 0}
            messages = []
            for m in row["messages"]:
                content = self.clean(m["content"] or "", stats)
                if not content and not m.get("tool_calls"):
                    stats["removed"] += 1
                    continue
                stats["changed"] += content != m["content"]
                messages.append({**m, "content": content})
            details = {k: v for k, v in stats.items() if v} or None
            changed = bool(stats["changed"] or stats["removed"])
            if not messages:
                out.append(Verdict(row["id"], False, "empty after normalising", details))
            else:
                out.append(Verdict(row["id"], True, None, details, messages if changed else None))
        return out
