"""Runs one untrusted program under limits. Started by ``imitkit.eval.sandbox``; never imported.

Order matters: limits first, then a private network namespace, then (as root) the
program's imports are loaded before dropping to ``nobody``, whose process count
RLIMIT_NPROC can cap (root is exempt from it). Only the standard library is used.
"""

import ast
import ctypes
import json
import os
import resource
import sys

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
NOBODY = 65534
# Modules that stdlib code imports lazily at call time (e.g. time.strptime -> _strptime);
# as nobody the interpreter's own files may be unreadable (/root is 0700), so load them now.
# The program's own imports are found with ast and loaded too.
PRELOAD = ("_strptime", "encodings.idna", "linecache", "traceback")


def _limit(kind: int, soft: int, hard: int | None = None) -> None:
    try:
        resource.setrlimit(kind, (soft, soft if hard is None else hard))
    except (ValueError, OSError):
        pass  # not lowerable here; the wall-clock kill still bounds the sample


def _preload(source: str) -> None:
    names = set(PRELOAD)
    try:
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
    except (SyntaxError, ValueError, RecursionError):
        pass  # the program will report its own syntax error
    for name in sorted(names):
        try:
            __import__(name)
        except BaseException:  # noqa: BLE001 - a failing import fails again, visibly, in the program
            pass


def _unshare(flags: int) -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    return hasattr(libc, "unshare") and libc.unshare(flags) == 0


def main() -> None:
    program, memory_mb, cpu_s, nproc, fsize_mb = sys.argv[1], *map(int, sys.argv[2:6])
    with open(program, encoding="utf-8") as f:
        source = f.read()
    _limit(resource.RLIMIT_CORE, 0)
    _limit(resource.RLIMIT_FSIZE, fsize_mb << 20)
    _limit(resource.RLIMIT_CPU, cpu_s, cpu_s + 1)
    _limit(resource.RLIMIT_AS, memory_mb << 20)
    root = os.geteuid() == 0
    isolated = _unshare(CLONE_NEWNET) if root else _unshare(CLONE_NEWUSER | CLONE_NEWNET)
    if root:
        _preload(source)
        os.chown(".", NOBODY, NOBODY)
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    _limit(resource.RLIMIT_NPROC, nproc)
    with open(".sandbox", "w", encoding="utf-8") as f:
        json.dump({"network_isolated": isolated, "uid": os.getuid()}, f)
    sys.argv = [program]
    sys.path[0] = os.getcwd()  # not this package's folder
    exec(compile(source, program, "exec"), {"__name__": "__main__", "__builtins__": __builtins__})


if __name__ == "__main__":
    main()
