"""``main.py history list|show RUN|export --json|--csv [--out FILE]|pair A B``: the one run history (GUI and CLI runs
alike)."""

from __future__ import annotations

import json
import sys

from app import jsonout
from app.errors import UserError

LIST_COLUMNS = ("id", "created", "label", "dataset", "head", "layer", "pooling", "n_features", "selected",
                "val_top1", "test_top1", "model_seed", "split_seed", "head_seed", "note")


def register(sub) -> None:
    p = sub.add_parser("history", help="list, show, export and pair the stored probe runs",
                       description="The run history shared by the desktop app and the commands (probe).")
    p.add_argument("--db", default=None, metavar="FILE", help="history file (default: the app's history.sqlite)")
    hs = p.add_subparsers(dest="history_command", metavar="ACTION", required=True)
    ls = hs.add_parser("list", help="one line per run, newest first")
    ls.add_argument("--dataset", default=None, help="only runs on this dataset")
    ls.add_argument("--json", action="store_true", help="a JSON list of the listed columns")
    ls.set_defaults(func=cmd_list)
    sh = hs.add_parser("show", help="one stored run as JSON")
    sh.add_argument("run", type=int, metavar="RUN")
    sh.set_defaults(func=cmd_show)
    ex = hs.add_parser("export", help="all (or some) runs as JSON or CSV")
    fmt = ex.add_mutually_exclusive_group(required=True)
    fmt.add_argument("--json", action="store_true")
    fmt.add_argument("--csv", action="store_true")
    ex.add_argument("--out", default=None, metavar="FILE", help="write to FILE (atomically) instead of stdout")
    ex.add_argument("--ids", default=None, metavar="ID,ID,...", help="only these runs")
    ex.set_defaults(func=cmd_export)
    pr = hs.add_parser("pair", help="two runs on the same test images compared image by image (McNemar's test)",
                       description="Two stored runs scored on the same test images: the images one got right and the "
                                   "other wrong, the accuracy difference with its 95%% interval, and McNemar's exact "
                                   "test of whether the two are equally accurate.")
    pr.add_argument("a", type=int, metavar="RUN_A")
    pr.add_argument("b", type=int, metavar="RUN_B")
    pr.add_argument("--json", action="store_true", help="the comparison as JSON")
    pr.set_defaults(func=cmd_pair)


def _db_path(args):
    from pathlib import Path

    from app import paths
    from app.probe.history import FILENAME

    return Path(args.db) if args.db is not None else paths.home() / FILENAME


def _open(args):
    """The history, opened read-only (these commands only read): a read-only file, or one another process holds
    locked, is listed and exported as it is, and nothing is written to it."""
    from pathlib import Path

    from app.probe.history import History

    if args.db is not None and not Path(args.db).is_file():  # a read: a typo'd --db is not a new, empty history
        what = "is a folder, not a history file" if Path(args.db).is_dir() else "does not exist"
        raise UserError(f"--db {args.db}: {what}")
    if args.db is None and not _db_path(args).exists():
        return History(None)  # the first use: the app's history, created empty as the desktop app would
    return History(args.db, readonly=True)


def _refuse_the_history_itself(out: str, args) -> None:
    """``export --out`` onto the history file (or its -wal / -shm) would replace the database with the export."""
    import os
    from pathlib import Path

    db = _db_path(args)
    target = Path(out).expanduser()
    for f in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        same = target.resolve() == f.resolve()
        if not same and target.exists() and f.exists():
            try:
                same = os.path.samefile(target, f)
            except OSError:
                same = False
        if same:
            raise UserError(f"--out {out}: that is the run history itself ({f}); the export would replace it. "
                            "Give another file name.")


def _count(n) -> str:
    return f"{n:,}" if isinstance(n, int) else str(n)


def cmd_list(args) -> int:
    with _open(args) as h:
        runs = h.list(args.dataset)
        # a filter that matches nothing: which datasets the runs are on (read in the same open)
        others = sorted({r.dataset for r in h.list(None)}) if not runs and args.dataset is not None else []
    rows = [{k: getattr(r, k) for k in LIST_COLUMNS} for r in runs]
    for row in rows:
        row["selected"] = json.loads(row["selected"]) if row["selected"] else {}
    if args.json:
        print(jsonout.dumps(rows))
        return 0
    if not rows:
        if args.dataset is None:
            print("no runs stored yet")
        else:
            print(f"no stored run on dataset {args.dataset!r}" + (f" (runs are on: {', '.join(others)})" if others
                                                                  else "; no runs stored yet"))
        return 0
    for row in rows:
        sel = ",".join(f"{k}={v}" for k, v in row["selected"].items())
        val = "     - " if row["val_top1"] is None else f"{100 * row['val_top1']:6.2f}%"
        when = row["created"][:19].replace("T", " ")
        print(f"{row['id']:>5}  {when}  {row['label'][:28]:<28} {row['dataset'][:16]:<16} "
              f"{row['head']:<8} layer {row['layer']!s:>3} {row['pooling']:<11} {_count(row['n_features']):>7} feat  "
              f"val {val}  test {100 * (row['test_top1'] or 0):6.2f}%  {sel}"
              + (f"  ({row['note']})" if row.get("note") else ""))
    return 0


def cmd_show(args) -> int:
    with _open(args) as h:
        try:
            d = h.get(args.run)
        except KeyError:
            raise UserError(f"no run with id {args.run} in {h.path}") from None
    from app.probe.printed import as_fitted

    print(jsonout.dumps(as_fitted(d), indent=1))
    return 0


def cmd_pair(args) -> int:
    from app.probe.paired import PairingError, compare_pair, paired_text, run_name

    if args.a == args.b:
        raise UserError(f"history pair: give two different runs (got {args.a} twice)")
    with _open(args) as h:
        runs = []
        for rid in (args.a, args.b):
            try:
                runs.append(h.get(rid))
            except KeyError:
                raise UserError(f"no run with id {rid} in {h.path}") from None
    try:
        c = compare_pair(*runs)
    except PairingError as exc:
        raise UserError(str(exc)) from None
    if args.json:
        print(jsonout.dumps(c.to_dict()))
    else:
        print(paired_text(c, run_name(runs[0]), run_name(runs[1])))
    return 0


def cmd_export(args) -> int:
    from app.cliargs import out_file

    if args.out:
        out_file(args.out)
        _refuse_the_history_itself(args.out, args)
    ids = None
    if args.ids:
        try:
            ids = [int(v) for v in args.ids.split(",") if v.strip()]
        except ValueError:
            raise UserError(f"--ids: expected comma-separated run ids, got {args.ids!r}") from None
    with _open(args) as h:
        try:
            text = h.json_text(ids) if args.json else h.csv_text(ids)
        except KeyError as exc:
            raise UserError(str(exc).strip("'\"")) from None
    if args.out:
        from app.storage import atomic_write

        atomic_write(args.out, text)
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
