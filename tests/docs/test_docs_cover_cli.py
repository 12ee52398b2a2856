"""Every CLI command and every option appears in docs/ (issue 8: docs users can trust)."""

from pathlib import Path

import click

from imitkit.cli import cli

DOCS = Path(__file__).resolve().parents[2] / "docs"


def walk(command: click.Command, path: tuple[str, ...]):
    yield path, command
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            yield from walk(command.get_command(ctx, name), path + (name,))


def docs_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in DOCS.rglob("*.md"))


def test_every_command_and_option_is_documented():
    text = docs_text()
    missing = []
    for path, command in walk(cli, ()):
        if not path:
            continue
        name = "imitkit " + " ".join(path)
        if name not in text:
            missing.append(name)
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                longs = [o for o in param.opts + param.secondary_opts if o.startswith("--")]
                if longs and not any(o in text for o in longs) and "--help" not in longs:
                    missing.append(f"{name} {longs[0]}")
    assert not missing, "not mentioned anywhere in docs/: " + ", ".join(missing)
