"""Converting setting values from YAML or the command line to a dataclass field's declared type.

PyYAML reads ``2e-5`` as a string and the command line gives only strings, so values are
coerced against the type hint: ``int | None`` takes ``"none"``, ``list[str]`` takes
``"a,b"``, ``dict`` takes JSON.
"""

from __future__ import annotations

import json
import typing
from typing import Any

from imitkit.finetune.errors import FinetuneConfigError

_UNION_TYPES = (typing.Union, type(int | None))


def _members(hint: Any) -> tuple[Any, ...]:
    """The plain classes a hint admits: ``int | None`` -> (int, NoneType), ``list[str]`` -> (list,)."""
    if typing.get_origin(hint) in _UNION_TYPES:
        return tuple(typing.get_origin(a) or a for a in typing.get_args(hint))
    return (typing.get_origin(hint) or hint,)


def allows(hint: Any, kind: type) -> bool:
    if hint is Any:
        return True
    return any(m is kind or (isinstance(m, type) and issubclass(m, str) and kind is str) for m in _members(hint))


_TRUE, _FALSE = {"true", "yes", "1", "on"}, {"false", "no", "0", "off"}


def coerce(name: str, value: Any, hint: Any, choices: tuple[str, ...] | None = None) -> Any:
    """Convert ``value`` (from YAML or the command line) to the type the field declares."""
    result = _coerce(name, value, hint)
    if choices and result is not None and result not in choices:
        raise FinetuneConfigError(f"{name} must be one of {', '.join(choices)}, not {result!r}")
    return result


def _coerce(name: str, value: Any, hint: Any) -> Any:
    if hint is Any:
        return value
    bad = FinetuneConfigError(f"{name}: {value!r} is not a valid {_describe(hint)}")
    if value is None:
        if allows(hint, type(None)):
            return None
        raise bad
    if isinstance(value, bool):
        if allows(hint, bool):
            return value
        raise bad
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if allows(hint, int) and float(value).is_integer():
            return int(value)
        if allows(hint, float):
            return float(value)
        if allows(hint, str):
            return str(value)
        raise bad
    if isinstance(value, (dict, list)):
        if isinstance(value, dict) and allows(hint, dict) or isinstance(value, list) and allows(hint, list):
            return value
        raise bad
    text = str(value).strip()
    low = text.lower()
    if allows(hint, bool) and low in _TRUE | _FALSE:
        return low in _TRUE
    if allows(hint, int):
        try:
            return int(text)
        except ValueError:
            pass
    if allows(hint, float):
        try:
            return float(text)
        except ValueError:
            pass
    if text[:1] in "{[" and (allows(hint, dict) or allows(hint, list)):
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise FinetuneConfigError(f"{name}: {text!r} is not valid JSON: {e.msg}") from e
    if allows(hint, str):
        return text
    if low in ("none", "null") and allows(hint, type(None)):
        return None
    if allows(hint, list):
        return [part.strip() for part in text.split(",") if part.strip()]
    raise bad


def _describe(hint: Any) -> str:
    names = [getattr(m, "__name__", str(m)) for m in _members(hint)]
    return " or ".join("None" if n == "NoneType" else n for n in names)
