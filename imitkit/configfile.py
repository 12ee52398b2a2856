"""Config and spec files: one way to read a YAML mapping and to reject unknown keys.

Every stage's settings (curation config, mix and sweep specs, teacher and finetune
options) go through these two functions, so a typo in any of them fails the same way:
one line naming the file, the unknown key and the valid ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from imitkit.errors import ImitkitError


def read_yaml_mapping(path: str | Path, error: type[ImitkitError], what: str = "config") -> dict[str, Any]:
    """The YAML mapping in ``path`` (empty file → ``{}``), or ``error`` with one clear line."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise error(f"cannot read {what} {path}: {e.strerror or e}") from e
    except yaml.YAMLError as e:
        raise error(f"{what} {path} is not valid YAML: {' '.join(str(e).split())}") from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise error(f"{what} {path} must be a YAML mapping of key: value, not a {type(data).__name__}")
    return data


def reject_unknown_keys(keys: Iterable[Any], valid: Iterable[str], where: str, error: type[ImitkitError],
                        noun: str = "key") -> None:
    """Raise ``error`` naming every key not in ``valid`` and listing the valid ones."""
    valid = list(valid)
    unknown = sorted(str(k) for k in set(keys) - set(valid))
    if unknown:
        raise error(f"unknown {noun}(s) {', '.join(unknown)} in {where}; valid {noun}s: {', '.join(valid)}")
