"""Headless commands: ``python main.py <command> ...``.

Each feature area registers its commands in its own module (``register(sub, bench)``: ``sub`` is the top-level
subparsers, ``bench`` the subparsers of ``main.py bench``). A handler takes the parsed args and returns an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Feature modules that add commands. Each defines register(sub, bench).
COMMAND_MODULES = [
    "app.kernels.cli",
    "app.models.cli",
    "app.probe.cli",
    "app.live.cli",
    "app.data.cli",
    "app.analysis.cli",
]


from app.errors import AppError, UserError, message  # noqa: F401  (UserError: the commands raise it)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="main.py",
        description="Filter Explorer: random, hand-designed and trained CNN filters, side by side. "
        "With no command, the desktop app starts.",
    )
    parser.add_argument("--device", default=None, help="compute device: auto (default), cpu, cuda, cuda:N, mps")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all cores; the desktop app leaves one core to its window)")
    parser.add_argument("--screenshot", metavar="PATH", help="render the window offscreen to a PNG and exit")
    parser.add_argument(
        "--workspace",
        choices=["kernels", "models", "live", "probe"],
        default=None,
        help="workspace to open (with --screenshot: the one to render)",
    )
    parser.add_argument("--size", default=None, help="window size WxH for --screenshot (default 1400x900)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    bench = sub.add_parser("bench", help="benchmarks that print their figures").add_subparsers(
        dest="bench_command", metavar="BENCH", required=True
    )
    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # feature not built yet
                continue
            raise
        mod.register(sub, bench)
    return parser


def run(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from app import device

    try:
        device.set_override(args.device)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    device.configure_threads(args.threads)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
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
