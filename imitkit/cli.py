"""The ``imitkit`` entry point: a lazy click group and one-line error reporting."""

from __future__ import annotations

import importlib
import sys

import click

from imitkit.__version__ import __version__
from imitkit.commands import COMMANDS
from imitkit.errors import ImitkitError


class LazyGroup(click.Group):
    """Resolves commands from :data:`COMMANDS` on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        target, _ = COMMANDS[name]
        module, attribute = target.split(":")
        return getattr(importlib.import_module(module), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Help text comes from the table, so listing commands imports none of them.
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="imitkit")
@click.option("--registry", "registry_dir", envvar="IMITKIT_REGISTRY", metavar="DIR",
              help="Registry directory (default ./.imitkit; env IMITKIT_REGISTRY).")
@click.pass_context
def cli(ctx: click.Context, registry_dir: str | None) -> None:
    """imitkit: build, curate, version and test imitation datasets.

    Collectors -> curation -> DuckDB registry -> snapshots -> publish | finetune | eval.
    """
    ctx.ensure_object(dict)
    ctx.obj.setdefault("registry", registry_dir)


def main(argv: list[str] | None = None) -> int:
    try:
        # Without standalone mode click returns ctx.exit(N)'s code instead of exiting.
        code = cli.main(args=argv, prog_name="imitkit", standalone_mode=False)
    except ImitkitError as e:
        click.echo(f"Error: {e}", err=True)
        return 1
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except (click.Abort, KeyboardInterrupt):
        click.echo("Interrupted. Work finished so far is saved; re-run the same command to resume.", err=True)
        return 130
    except BrokenPipeError:
        return 0
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
