"""Headless commands: ``python main.py <command> ...``.

Each feature area registers its commands in its own module (``register(sub, bench)``: ``sub`` is the top-level
subparsers, ``bench`` the subparsers of ``main.py bench``). A handler takes the parsed args and returns an exit code.

Start-up stays instant (``--help``, ``kernels kinds``, ``models list``, ``data list``: no torch, no Qt, no
scikit-learn): the command modules import only the standard library (and numpy) at module level and in
``register()``; each handler imports what it needs. ``tests/test_perf_start.py`` checks it.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from app import bench_load, device
from app.analysis import cli as analysis_cli
from app.data import cli as data_cli
from app.experiments import cli as experiments_cli
from app.errors import AppError, UserError, message  # noqa: F401  (UserError: kept for old callers)
from app.kernels import cli as kernels_cli
from app.live import cli as live_cli
from app.models import cli as models_cli
from app.probe import bench_cli as probe_bench_cli
from app.probe import cli as probe_cli

# The modules that add commands, in --help order. Each defines register(sub, bench).
COMMAND_MODULES = [kernels_cli, models_cli, probe_cli, probe_bench_cli, live_cli, data_cli, experiments_cli,
                   analysis_cli, bench_load]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="main.py",
        description="Filter Explorer: random, hand-designed and trained CNN filters, side by side. "
        "With no command, the desktop app starts.",
    )
    parser.add_argument("--device", default=None, help="compute device: auto (default), cpu, cuda, cuda:N, mps")
    parser.add_argument("--threads", type=device.threads_arg, default=None, metavar="N",
                        help="torch CPU threads, fixed (default: all cores, adapted to the load while computing; "
                        "the desktop app leaves one core to its window; env FILTER_EXPLORER_THREADS)")
    parser.add_argument("--screenshot", metavar="PATH", help="render the window offscreen to a PNG and exit")
    parser.add_argument(
        "--workspace",
        choices=["kernels", "models", "live", "probe", "experiments", "insight"],
        default=None,
        help="workspace to open (with --screenshot: the one to render)",
    )
    parser.add_argument("--size", default=None, help="window size WxH for --screenshot (default 1400x900)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    bench = sub.add_parser("bench", help="benchmarks that print their figures").add_subparsers(
        dest="bench_command", metavar="BENCH", required=True
    )
    for mod in COMMAND_MODULES:
        mod.register(sub, bench)
    return parser


def _show_warning(msg, category, filename, lineno, file=None, line=None, _default=warnings.showwarning) -> None:
    """The product's own warnings (raised in ``app/``) as one ``warning: ...`` line; others as Python shows them."""
    if os.path.abspath(filename).startswith(os.path.dirname(os.path.abspath(__file__)) + os.sep):
        print(f"warning: {message(msg)}", file=file or sys.stderr)
    else:
        _default(msg, category, filename, lineno, file, line)


def run(argv: list[str]) -> int:
    warnings.showwarning = _show_warning
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        device.set_override(args.device)
        device.configure_threads(args.threads)
        return int(func(args) or 0)
    except AppError as exc:
        print(f"error: {message(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `main.py ... | head`: the reader left; not an error of ours
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
