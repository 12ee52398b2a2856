"""`imitkit --help` (and each command's --help) must stay instant: no heavy library at start-up."""

import json
import subprocess
import sys

import pytest

from imitkit.commands import COMMANDS

HEAVY = ["torch", "transformers", "trl", "peft", "datasets", "accelerate", "openai", "matplotlib"]
PROBE = """
import io, json, sys, contextlib
from imitkit.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    main(sys.argv[1:])
print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & set(%r))))
""" % HEAVY


@pytest.mark.parametrize("argv", [["--help"], *[[name, "--help"] for name in sorted(COMMANDS)]])
def test_help_imports_no_heavy_library(argv):
    out = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_unknown_command_and_user_errors_are_one_line(cli):
    result = cli("no-such-command")
    assert result.code == 2 and "No such command" in result.err
    result = cli("show", "c:does-not-exist")
    assert result.code == 1 and result.err == "Error: no conversation with id c:does-not-exist\n"
