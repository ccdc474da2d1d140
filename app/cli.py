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
    add_app_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    bench = sub.add_parser("bench", help="benchmarks that print their figures").add_subparsers(
        dest="bench_command", metavar="BENCH", required=True
    )
    for mod in COMMAND_MODULES:
        mod.register(sub, bench)
    _store_once(parser)
    return parser


class _StoreOnce(argparse._StoreAction):
    """A single-valued option given twice with different values is refused, not silently the last one
    (``probe --backbone rdsn --backbone simple`` probed simple alone, under a command line that named both)."""

    def __call__(self, parser, namespace, values, option_string=None):
        seen = getattr(self, "_fe_given", None)
        try:
            differs = seen is not None and seen[0] is namespace and bool(seen[1] != values)
        except Exception:  # values without a plain equality (arrays): two of them are two values
            differs = True
        if differs:
            said = " ".join(map(str, seen[1])) if isinstance(seen[1], list) else seen[1]
            now = " ".join(map(str, values)) if isinstance(values, list) else values
            more = (f"; give every item after one {option_string}" if self.nargs in ("*", "+")
                    else "; give it once")
            parser.error(f"{option_string} given twice ({said!r}, then {now!r}){more}")
        self._fe_given = (namespace, values)  # this parse's namespace, kept alive: no id is reused
        super().__call__(parser, namespace, values, option_string)


def _store_once(parser: argparse.ArgumentParser) -> None:
    """Every plain ``store`` option of ``parser`` and its commands becomes a ``_StoreOnce``."""
    for action in parser._actions:
        if type(action) is argparse._StoreAction:
            action.__class__ = _StoreOnce
        elif isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                _store_once(sub)


# the desktop app's own options (main.py without a command), with what each does there
APP_OPTIONS = {"--screenshot": "it renders the window to a PNG", "--workspace": "the workspace the window opens on",
               "--size": "the window's size for --screenshot"}


def add_app_options(parser: argparse.ArgumentParser) -> None:
    """The options given before any command: ``--device``, ``--threads`` (every command's too) and the desktop
    app's ``APP_OPTIONS``."""
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


def check_app_options(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    """Refuse (``UserError``) the desktop app's options (``APP_OPTIONS``) given before a command: the command never
    reads them (``--size 32x32 bench live`` measured 240x320 without a word). The message says where a command's own
    option of that name goes (after the command)."""
    top = argparse.ArgumentParser(add_help=False)
    add_app_options(top)
    top.add_argument("rest", nargs=argparse.REMAINDER)  # the command and its own arguments
    try:
        given, _ = top.parse_known_args(argv)
    except SystemExit:  # the whole parser accepted argv; nothing to add here
        return
    command, leaf = _command_parser(parser, given.rest)
    for option, does in APP_OPTIONS.items():
        value = getattr(given, option[2:])
        if value is None:
            continue
        said = f"{option} {value} before the command is an option of the desktop app ({does})"
        if option in leaf._option_string_actions:
            raise UserError(f"{said}, not of {command}: give {command}'s own {option} after the command "
                            f"(python main.py {command} {option} {value})")
        raise UserError(f"{said}, which {command} does not use: leave it out (python main.py {option} ... without a "
                        f"command starts the desktop app)")


def refuse_unknown(parser: argparse.ArgumentParser, argv: list[str], extra: list[str]) -> None:
    """Arguments no parser took, refused by the command's own parser (its usage, ``main.py probe: error: ...``;
    argparse's own refusal came from the top parser, with the usage of ``main.py`` and no word of the command) with
    the nearest option of that command for a misspelt one ("--datset (did you mean --dataset?)"). Exits with 2."""
    import difflib

    top = argparse.ArgumentParser(add_help=False)
    add_app_options(top)
    top.add_argument("rest", nargs=argparse.REMAINDER)
    try:
        rest = top.parse_known_args(argv)[0].rest
    except SystemExit:
        rest = list(argv)
    _, leaf = _command_parser(parser, rest)
    options = [o for o in leaf._option_string_actions if o.startswith("--")]
    words = []
    for arg in extra:
        near = difflib.get_close_matches(arg.split("=", 1)[0], options, n=1, cutoff=0.7) \
            if arg.startswith("--") else []
        words.append(f"{arg} (did you mean {near[0]}?)" if near else arg)
    leaf.error(f"unrecognized arguments: {' '.join(words)}")


def _command_parser(parser: argparse.ArgumentParser, tokens: list[str]) -> tuple[str, argparse.ArgumentParser]:
    """("bench live", its parser) for the tokens after the app's options."""
    names, current = [], parser
    for tok in tokens:
        subs = [a for a in current._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            break
        if tok in subs[0].choices:
            names.append(tok)
            current = subs[0].choices[tok]
    return " ".join(names) or "the command", current


def _show_warning(msg, category, filename, lineno, file=None, line=None, _default=warnings.showwarning) -> None:
    """The product's own warnings (raised in ``app/``) as one ``warning: ...`` line; others as Python shows them."""
    if os.path.abspath(filename).startswith(os.path.dirname(os.path.abspath(__file__)) + os.sep):
        print(f"warning: {message(msg)}", file=file or sys.stderr)
    else:
        _default(msg, category, filename, lineno, file, line)


def run(argv: list[str]) -> int:
    warnings.showwarning = _show_warning
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        refuse_unknown(parser, argv, extra)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        check_app_options(parser, argv)
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
    except OSError as exc:  # the last line of defence: a file that could not be read or written (the outputs are
        # checked before any work, app.cliargs.out_file / out_folder), a message, not a traceback; other errors
        # (a bug's) keep their traceback
        print(f"error: {os_error_text(exc)}", file=sys.stderr)
        return 2


# errors that only a write gives; any other (permission, a missing file) may be a read's or a write's
_WRITE_ERRNOS = {"ENOSPC", "EDQUOT", "EROFS", "EFBIG"}


def os_error_text(exc: OSError) -> str:
    """``cannot write FILE: reason`` (``cannot read or write`` where the error does not tell which) for an
    ``OSError`` that escaped a command."""
    import errno

    reason = exc.strerror or str(exc)
    files = [str(f) for f in (exc.filename, exc.filename2) if f is not None]
    if not files:
        return f"cannot read or write a file: {reason}"
    verb = "write" if errno.errorcode.get(exc.errno or -1) in _WRITE_ERRNOS else "read or write"
    return f"cannot {verb} {' -> '.join(files)}: {reason}"
