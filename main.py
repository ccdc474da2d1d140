#!/usr/bin/env python3
"""Filter Explorer: the single entry point.

    python main.py                      the desktop app
    python main.py --screenshot a.png   render the window offscreen, write a PNG, exit
    python main.py <command> ...        headless commands (python main.py --help lists them)
"""

from __future__ import annotations

import os
import sys


def _wants_gui(argv: list[str]) -> bool:
    from app.cli import build_parser

    if any(a in ("-h", "--help") for a in argv):
        return False
    args, _ = build_parser().parse_known_args(argv)
    return args.command is None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from app import device

    device.tune_allocator()  # before the first large tensors: see its docstring (Live: 30 -> 48 FPS here)
    if not _wants_gui(argv):
        from app.cli import run

        return run(argv)
    from app.cli import build_parser

    args = build_parser().parse_args(argv)
    if args.screenshot:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    # torch before PySide6 on Windows (its DLLs fail to load after Qt's there); elsewhere the window paints first
    # and torch comes with the first workspace (issue 14). The headless commands import it in their handlers.
    if sys.platform.startswith("win"):
        import torch  # noqa: F401

    try:
        device.set_override(args.device)
    except device.DeviceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.startup_notes = []
    try:
        device.configure_threads(args.threads, gui=True)  # one core left for the GUI thread
    except device.DeviceError as exc:
        # only FILTER_EXPLORER_THREADS can be wrong here (argparse checked --threads): the environment of a desktop
        # session, whose user sees no terminal. Start with the default count and say so in the window.
        os.environ.pop("FILTER_EXPLORER_THREADS", None)
        device.configure_threads(None, gui=True)
        args.startup_notes.append(f"{exc}. It was ignored: the default thread count is used.")
        print(f"warning: {args.startup_notes[-1]}", file=sys.stderr)
    from widgets.application import run_gui

    return run_gui(args)


if __name__ == "__main__":
    sys.exit(main())
