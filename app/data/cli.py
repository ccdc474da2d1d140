"""``python main.py data ...``: list, download and describe datasets; ``bench dataset-load`` times a load."""

from __future__ import annotations

import sys
import time

import numpy as np

from app.cliargs import add_data_root


def register(sub, bench) -> None:
    p = sub.add_parser("data", help="datasets: list, download, info, verify, cache, clear-cache")
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    ls = dsub.add_parser("list", help="the built-in datasets, whether each is local, download sizes")
    add_data_root(ls)
    ls.add_argument("--json", action="store_true", help="a JSON list of {name, local, download_bytes, where, title}")
    ls.set_defaults(func=cmd_list)

    dl = dsub.add_parser("download", help="download a dataset from its official location (progress on stderr)")
    dl.add_argument("name", help="mnist, fashion-mnist, cifar10, cifar100 or stl10")
    add_data_root(dl)
    dl.add_argument("--mirror", default=None,
                    help="base URL serving the same file names (default: official; env FILTER_EXPLORER_MIRROR)")
    dl.add_argument("--keep-archive", action="store_true", help="keep the .tar.gz after unpacking it")
    dl.set_defaults(func=cmd_download)

    info = dsub.add_parser("info", help="images per class, image shape, normalisation")
    info.add_argument("name", help="a dataset name or imagefolder:PATH")
    info.add_argument("--split", choices=["train", "test"], default="train")
    add_data_root(info)
    info.set_defaults(func=cmd_info)

    ver = dsub.add_parser("verify", help="check a local copy against the published MD5s (exit 0: every file "
                                         "verified; 1: a mismatch or a missing file; 3: no mismatch, but files "
                                         "without a published digest, e.g. CIFAR's binary batches)")
    ver.add_argument("name", help="mnist, fashion-mnist, cifar10, cifar100 or stl10")
    add_data_root(ver)
    ver.set_defaults(func=cmd_verify)

    ca = dsub.add_parser("cache", help="every cache folder with its files and size (nothing is deleted)")
    ca.set_defaults(func=cmd_cache)

    cc = dsub.add_parser("clear-cache", help="delete the caches (datasets, imagefolder, features, ...) and stale "
                                             "temporaries; sources are kept")
    cc.add_argument("names", nargs="*", metavar="CACHE", help="only these caches (default: all; see: data cache)")
    cc.add_argument("--list", action="store_true", help="only list the caches with their sizes (as data cache)")
    cc.set_defaults(func=cmd_clear_cache)

    b = bench.add_parser("dataset-load", help="time a dataset load: first (parse/decode, with empty caches) and second (from the cache)")
    b.add_argument("name", help="a dataset name or imagefolder:PATH")
    b.add_argument("--split", choices=["train", "test"], default="train")
    add_data_root(b)
    b.set_defaults(func=cmd_bench_load)


class _Progress:
    """``app.tasks.cli_progress`` plus a clean end of line (so errors and results start on their own line)."""

    def __init__(self, prefix: str) -> None:
        from app.tasks import cli_progress

        self._show = cli_progress(prefix)
        self._open = False

    def __call__(self, p) -> None:
        self._show(p)
        frac = p.fraction
        self._open = not (frac is not None and frac >= 1.0)

    def end(self) -> None:
        if self._open:
            sys.stderr.write("\r\033[K" if sys.stderr.isatty() else "\n")
            sys.stderr.flush()
        self._open = False


def _err(exc: Exception):
    from app.errors import UserError

    return UserError(str(exc))


def cmd_list(args) -> int:
    from app.data import formats, remote
    from app.storage import human_size

    if getattr(args, "json", False):
        from app import jsonout

        out = []
        for name in formats.builtin_names():
            st = remote.status(name, args.data_root)
            out.append({"name": name, "local": bool(st.local), "download_bytes": st.download_size or None,
                        "where": st.where if st.local else None, "title": st.title})
        print(jsonout.dumps(out))
        return 0
    rows = [("NAME", "LOCAL", "DOWNLOAD", "WHERE / TITLE")]
    for name in formats.builtin_names():
        st = remote.status(name, args.data_root)
        size = "-" if not st.download_size else human_size(st.download_size)
        rows.append((name, "yes" if st.local else "no", size, st.where if st.local else st.title))
    rows.append(("imagefolder:PATH", "-", "-", "any folder of class sub-folders (train/ and test/ when present)"))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:3], widths)) + "  " + r[3])
    return 0


def cmd_download(args) -> int:
    from app.data import DatasetError, formats, remote
    from app.tasks import run_to_end

    if args.name == "digits":  # scikit-learn's 8x8 digits ship inside the package: nothing to download
        print("digits: ships with the application (scikit-learn's 8x8 digits); nothing to download")
        return 0
    if args.name not in formats.BUILTINS:
        raise _err(ValueError(f"unknown dataset {args.name!r}; downloadable: {', '.join(formats.BUILTINS)}"))
    if args.data_root:  # a mistyped --root is refused, not made with every folder above it (as an --out folder)
        from app.cliargs import out_folder

        out_folder(args.data_root, "--root")
    show = _Progress(f"{args.name}: ")
    try:
        out = run_to_end(remote.download(args.name, args.data_root, mirror=args.mirror,
                                          keep_archive=args.keep_archive), show)
    except DatasetError as exc:
        raise _err(exc) from None
    except OSError as exc:  # a folder that cannot be made or written (the file named): the user's to fix
        where = f" {exc.filename}" if exc.filename else ""
        raise _err(OSError(f"{args.name}: cannot write the download{where} ({exc.strerror or exc}); choose "
                           f"another data folder with --root")) from None
    finally:
        show.end()
    print(f"{args.name}: ready in {out}")
    return 0


def cmd_info(args) -> int:
    from app.data import DatasetError
    from app.data.formats import load_task
    from app.data.imagefolder import STATS_IMAGES
    from app.tasks import run_to_end

    show = _Progress(f"{args.name}: ")
    try:
        ds = run_to_end(load_task(args.name, args.split, args.data_root), show)
    except DatasetError as exc:
        raise _err(exc) from None
    finally:
        show.end()
    c, h, w = ds.shape
    counts = np.bincount(ds.labels, minlength=len(ds.classes))
    print(f"{ds.name} ({ds.split}): {len(ds):,} images, {h}x{w}, {c} channel{'s' if c > 1 else ''}, "
          f"{len(ds.classes)} classes")
    # every dataset, image folders included, carries its training split's statistics in both splits
    who = "the training split's statistics, whichever split is shown"
    if ds.name.startswith("imagefolder:") and ds.split == "train" and len(ds) > STATS_IMAGES:
        who += f"; estimated from {STATS_IMAGES:,} images spread over the split, within ~0.004 of all {len(ds):,}"
    elif ds.name.startswith("imagefolder:") and ds.split != "train":
        n_train = len(run_to_end(load_task(args.name, "train", args.data_root)))  # cached by the load just made
        if n_train > STATS_IMAGES:
            who += (f"; estimated from {STATS_IMAGES:,} images spread over the training split, within ~0.004 of all "
                    f"{n_train:,}")
    print(f"normalisation ({who}): mean {tuple(round(v, 4) for v in ds.mean)}, "
          f"std {tuple(round(v, 4) for v in ds.std)}")
    width = max(len(n) for n in ds.classes)
    for name, k in zip(ds.classes, counts):
        print(f"  {name.ljust(width)}  {int(k):>7,}")
    for note in ds.notes:
        print(f"note: {note}")
    return 0


def cmd_verify(args) -> int:
    from app.data import DatasetError, formats, remote
    from app.tasks import run_to_end

    show = _Progress(f"{args.name}: ")
    try:
        results = run_to_end(remote.verify_local(args.name, args.data_root), show)
    except DatasetError as exc:
        raise _err(exc) from None
    finally:
        show.end()
    for fname, ok, detail in results:
        mark = "ok" if ok else ("??" if ok is None else "BAD")
        print(f"{mark:>3}  {fname}: {detail}")
    print(f"{args.name}: {verify_summary(results)}")
    return verify_exit(results)


def verify_summary(results) -> str:
    """One line on ``remote.verify_local``'s results: only files that matched a published digest count as verified."""
    total = len(results)
    bad = sum(ok is False for _f, ok, _d in results)
    unverified = sum(ok is None for _f, ok, _d in results)
    if not bad and not unverified:
        return f"all verified ({total} file{'s' if total != 1 else ''})"
    parts = []
    if bad:
        parts.append(f"{bad} of {total} file(s) do not match the published ones")
    if unverified:
        parts.append(f"{unverified} of {total} file(s) have no published digest: not verified")
    if total - bad - unverified:
        parts.append(f"{total - bad - unverified} verified")
    return "; ".join(parts)


def verify_exit(results) -> int:
    """``data verify``'s exit code: 0 every file verified, 1 a file does not match (or is missing), 3 nothing
    wrong found but some files could not be verified (no published digest)."""
    if any(ok is False for _f, ok, _d in results):
        return 1
    return 3 if any(ok is None for _f, ok, _d in results) else 0


def _print_usage() -> None:
    from app.data import caches
    from app.storage import human_size

    rows = caches.usage()
    width = max(len(u.name) for u in rows)
    for u in rows:
        stale = f"; {u.stale} stale temporar{'y' if u.stale == 1 else 'ies'} ({human_size(u.stale_bytes)})" \
            if u.stale else ""
        print(f"{u.name.ljust(width)}  {u.files:>6,} file(s)  {human_size(u.bytes):>9}  {u.description}{stale}")
    total = sum(u.bytes + u.stale_bytes for u in rows)
    print(f"{'total'.ljust(width)}  {sum(u.files for u in rows):>6,} file(s)  {human_size(total):>9}  in "
          f"{rows[0].folder.parent if rows else ''}")
    print(caches.cap_text())


def cmd_cache(args) -> int:
    _print_usage()
    return 0


def cmd_clear_cache(args) -> int:
    from app.errors import UserError
    from app.data import caches
    from app.storage import human_size

    if args.list:
        _print_usage()
        return 0
    rows = caches.usage()
    known = [u.name for u in rows if not u.kept]
    unknown = [n for n in args.names if n not in {u.name for u in rows}]
    if unknown:
        raise UserError(f"unknown cache {', '.join(map(repr, unknown))}; the caches are: {', '.join(known)}")
    refused = [u for u in rows if u.name in args.names and u.kept]
    if refused:
        raise UserError("; ".join(f"{u.name!r} ({u.folder}) is {u.kept}" for u in refused))
    _print_usage()
    n, size = caches.clear(args.names or None)
    print(f"removed {n} cache file(s), {human_size(size)}")
    for u in rows:
        if u.kept and not args.names:
            print(f"kept {u.name} ({u.folder}): {u.kept}")
    return 0


def cmd_bench_load(args) -> int:
    """Time a cold load (parse/decode, the app's caches empty: a temporary home for the measurement, the data read
    where it is) and a second load (from the cache the first one wrote). Both were read from the user's caches as
    found, so "first load" was a cache read whenever the dataset had been loaded before."""
    import os
    import shutil
    import tempfile

    from app import paths
    from app.data import DatasetError
    from app.data.formats import load

    # the data where it is (the default data folder stays the default one, with its ../shared fallback, as for
    # `data info`); only the caches are fresh
    default_root = str(paths.data_root())
    tmp = tempfile.mkdtemp(prefix="fe-bench-load-")
    saved = {k: os.environ.get(k) for k in ("FILTER_EXPLORER_HOME", "FILTER_EXPLORER_DATA")}
    os.environ["FILTER_EXPLORER_HOME"] = tmp
    os.environ["FILTER_EXPLORER_DATA"] = default_root
    try:
        times, wrote = [], False
        for _ in range(2):
            t0 = time.perf_counter()
            ds = load(args.name, args.split, args.data_root)
            times.append(time.perf_counter() - t0)
            # a decode cache is written for compressed sources and image folders only (digits, plain IDX: none)
            wrote = wrote or any(os.path.isfile(os.path.join(d, f)) for d, _, fs in os.walk(tmp) for f in fs)
    except DatasetError as exc:
        raise _err(exc) from None
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{args.name} {args.split}: {len(ds):,} images {ds.images.shape[1:]}; first load {times[0]:.2f} s "
          f"(parse/decode, caches empty), second load {times[1]:.2f} s "
          f"({'from the cache it wrote' if wrote else 'no cache written: read again from the source'}; "
          f"{ds.images.nbytes / 2**20:.0f} MiB)")
    return 0
