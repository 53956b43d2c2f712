"""The one error boundary: run the command the arguments name, and turn every expected failure into an exit code."""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence

from revrules.cli.arguments import build_parser
from revrules.engine import interrupt
from revrules.engine.interrupt import EvaluationInterrupted
from revrules.errors import ExitCode, RevrulesError
from revrules.runtime import shutdown
from revrules.runtime.logs import setup_logging
from revrules.runtime.shutdown import StopRequested

log = logging.getLogger("revrules")
_ALLOCATOR = "_RJEM_MALLOC_CONF"
_POLARS_ALLOCATOR_DEFAULTS = {"dirty_decay_ms:500", "muzzy_decay_ms:1000"}


def load_handler(name: str) -> Callable[[argparse.Namespace], int]:
    """The command's function, `module.function` in `revrules.cli`, imported now that it runs."""
    module, function = name.split(".")
    handler: Callable[[argparse.Namespace], int] = getattr(importlib.import_module(f"revrules.cli.{module}"), function)
    return handler


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; every expected failure becomes a message and an exit code."""
    args = build_parser().parse_args(argv)
    setup_logging(log_format=args.log_format, debug=args.debug, timestamps=args.command == "schedule")
    # The first SIGTERM/SIGINT lets the batch in flight land (the scheduler installs its own handling).
    previous = shutdown.install() if args.command in ("apply", "rollback") else {}
    interrupt.reset()
    shutdown.also_notify(interrupt.request)
    try:
        code = load_handler(args.handler)(args)
    except (StopRequested, EvaluationInterrupted) as stop:
        log.warning("%s; exiting", str(stop).splitlines()[0])
        return ExitCode.OK
    except RevrulesError as exc:
        if args.debug:
            log.exception("failed")
        for line in str(exc).splitlines() or [type(exc).__name__]:
            print(f"error: {line}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        # Whoever read our output stopped reading (`revrules plan --json | head`): end quietly, as a
        # pipe filter does, and keep the interpreter's last flush of stdout from failing again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitCode.FAILED
    finally:
        shutdown.restore(previous)
    return code


def entry() -> None:
    """Console-script entry point."""
    # Polars' allocator keeps freed memory for a second or more, so a command's peak counted slices of a plan
    # long written; handed back within a quarter second, the peak is near what is alive. A user's setting
    # wins; polars' defaults, which it puts in the environment of a parent that imported it (once per
    # generation of processes that did), do not.
    if set(os.environ.get(_ALLOCATOR, "").split(",")) <= {"", *_POLARS_ALLOCATOR_DEFAULTS}:
        os.environ[_ALLOCATOR] = "dirty_decay_ms:250,muzzy_decay_ms:0"
    sys.exit(main())
