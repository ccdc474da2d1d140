"""``python main.py bench load``: the live, head and extraction benchmarks idle and under load, in one run.

A user's machine is never idle. This command measures each figure first on the machine as it is, then with
``--busy N`` busy processes (pure-Python spin loops, one core each) running beside it, and prints each figure with
its loaded/idle ratio, with the thread tuner (``app.threads.ThreadTuner``) off (the thread count fixed, as the
product ran before) and on. The busy processes are bounded in time by themselves (``--max-seconds``) and are always
ended by the command: on success, on an error, on Ctrl+C and on SIGTERM (killed in ``finally``).

Where the busy processes run (``--busy-session``) decides what share of the machine this process can get on Linux
with autogroup scheduling (``/proc/sys/kernel/sched_autogroup_enabled`` = 1, the default of most distributions):
``own`` (default): each in a session of its own, as programs started from another terminal or the desktop; the
kernel shares the cores between sessions first, so beside two of them this process gets about 2/3 of a core
whatever its thread count. ``shared``: in this process's session, as programs started from the same terminal;
the cores are shared thread by thread. The JSON says which, and whether autogroup is on.

Figures:
- live: app FPS of the Live pipeline's engine (``app.live.engine.LiveEngine.process``: the synthetic scene -> model
  -> mosaic), frames back to back after 5 untimed warm-up frames, measured the same way with the tuner off (an outer
  tuner that holds the configured count) and on (one that adapts it), so that the two differ by the tuner alone
  (before 2026-12-03 the tuner-off figure was ``app.live.bench.run_bench``'s, app frames interleaved with bare
  forwards);
- extract: images/s of the probe's feature extraction (``app.probe.extract.extract``, rdsn, probe defaults,
  MNIST from ../shared when present, else the embedded digits), after an untimed one-batch warm-up; tuner on: the
  extraction's own tuner, as in a probe run; off: driven step by step by an outer tuner that holds the configured
  count;
- head: our logistic head against scikit-learn on the same features (``app.probe.bench.bench_head``, its
  L-BFGS iterations timed by the tuner when on, held at the configured count when off): both timings and the
  speedup.

"idle" is the machine as it is (its load average is printed), measured first; "loaded" the same figures beside
``--busy N`` busy processes (with ``--busy 0`` the second pass is only a repeat, labelled so). ``--rounds N`` (N >= 2)
measures the live figure instead in N idle and N loaded rounds, alternating (the busy processes stopped for the idle
ones), so that a machine whose speed drifts between minutes weighs on both alike. ``--precision`` is the Live view's
(fast: bfloat16 on a CPU with native bfloat16).
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from typing import Any, Iterator

from app import jsonout

BUSY_CODE = "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end:\n    pass\n"
BENCHMARKS = ("live", "extract", "head")
BUSY_SESSIONS = ("own", "shared")
AUTOGROUP = "/proc/sys/kernel/sched_autogroup_enabled"
LIVE_WARMUP = 5  # untimed frames before each live figure
SPREAD = 0.3  # s after the busy processes go on (--rounds), before a loaded round (as busy_processes' 0.5 s first)
METHOD = {  # how each figure is measured (printed, and in --json)
    "live": f"app FPS of the Live engine, frames back to back after {LIVE_WARMUP} untimed warm-up frames, the same "
            "with the tuner off (the configured count held) and on",
    "extract": "images/s of the probe's extraction (rdsn, probe defaults), after an untimed one-batch warm-up",
    "head": "scikit-learn's time / ours on the same features (bench head), ours after a tiny untimed warm-up fit; "
            "tuner off: the configured count held",
}


def register(sub, bench) -> None:
    from app.live.cli import add_precision_argument

    p = bench.add_parser(
        "load", help="live, head and extraction benchmarks idle and beside N busy processes (loaded/idle ratios)",
        description=__doc__.split("\n\n")[1].replace("\n", " "))
    p.add_argument("--busy", type=int, default=2, help="busy processes for the loaded runs (default 2)")
    p.add_argument("--benchmarks", default=",".join(BENCHMARKS),
                   help=f"comma-separated subset of {','.join(BENCHMARKS)} (default: all)")
    p.add_argument("--frames", type=int, default=200,
                   help="live: frames per measurement (default 200: about 5-15 s, so that the thread tuner's first "
                        "trials, which a Live view pays once, weigh as they do in a view left running; 50 frames "
                        "under load were ~3 s, a fifth of them spent trying the slower count)")
    p.add_argument("--size", default=None, help="live: frame HxW, at least 16x16 (default 240x320; 64x96 with --quick)")
    p.add_argument("--rounds", type=int, default=1,
                   help="live: 1 (default) measures idle, then loaded; N >= 2 alternates N idle and N loaded rounds "
                        "of frames/N frames each (the busy processes stopped for the idle ones), so that the "
                        "machine's drift between minutes hits both alike")
    add_precision_argument(p, "live: ")
    p.add_argument("--images", type=int, default=4000,
                   help="extract: images (default 4000: about 65 batches of rdsn's probe defaults on MNIST; the "
                        "output gives the count)")
    p.add_argument("--head-train", type=int, default=5000, help="head: training images (default 5000)")
    p.add_argument("--tuner", choices=["both", "on", "off"], default="both",
                   help="run with the thread tuner off (fixed threads), on, or both (default)")
    p.add_argument("--busy-session", choices=BUSY_SESSIONS, default="own",
                   help="own (default): each busy process in a session of its own (started from elsewhere: with "
                        "autogroup scheduling the cores are shared between sessions first); shared: in this "
                        "process's session (shared thread by thread)")
    p.add_argument("--max-seconds", type=float, default=900,
                   help="the busy processes end themselves after this long in any case, more than 0 (default 900; "
                        "one that ends before the loaded figures are done is reported)")
    p.add_argument("--quick", action="store_true", help="tiny sizes (for tests): seconds, not minutes")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_bench_load)


def autogroup() -> bool | None:
    """Whether the kernel schedules by session first (Linux autogroup); None where it cannot be read."""
    try:
        with open(AUTOGROUP) as f:
            return f.read().strip() == "1"
    except OSError:
        return None


@contextmanager
def busy_processes(n: int, seconds: float, session: str = "own") -> Iterator[list[subprocess.Popen]]:
    """``n`` spinning processes, each in a session (and process group) of its own (``session="own"``) or in this
    process's (``"shared"``), ended on leaving (whatever happened)."""
    own = session == "own"
    procs: list[subprocess.Popen] = []
    try:
        for _ in range(n):
            procs.append(subprocess.Popen([sys.executable, "-c", BUSY_CODE.format(seconds=float(seconds))],
                                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL, start_new_session=own))
        time.sleep(0.5)  # let the scheduler spread them
        yield procs
    finally:
        for p in procs:
            try:
                if own and hasattr(os, "killpg"):
                    os.killpg(p.pid, signal.SIGKILL)  # the group it leads (and anything it started)
                else:  # in our own group, or Windows: the process itself
                    p.kill()
            except (ProcessLookupError, PermissionError):
                pass
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover - a zombie we cannot reap
                pass


def _tuner(on: bool):
    from app.threads import ThreadTuner

    return ThreadTuner("bench", adaptive=on)


@contextmanager
def _live_setup(args) -> Iterator[tuple[Any, Any, Any]]:
    """(engine, source, config) of the live figure: the default Live pane on the synthetic scene, warmed up."""
    import torch

    from app import device as devmod
    from app.live.bench import DEFAULT_BACKBONE, parse_size
    from app.live.config import LiveConfig, PaneConfig
    from app.live.engine import LiveEngine, default_layer
    from app.live.pipeline import LIVE_OPTIONS
    from app.live.synthetic import SyntheticSource
    from app.models.spec import ModelSpec

    h, w = parse_size(args.size)  # checked before any work (cmd_bench_load)
    options = dict(LIVE_OPTIONS.get(DEFAULT_BACKBONE, {}))
    spec = ModelSpec.make(DEFAULT_BACKBONE, label=DEFAULT_BACKBONE, options=options)
    engine = LiveEngine(devmod.pick())
    src = SyntheticSource(w, h)
    src.open()
    try:
        with torch.inference_mode():
            e = engine.entry(spec)
            cfg = LiveConfig(panes=(PaneConfig(spec, default_layer(e.layers), 0, 16),), size=(h, w), max_fps=0,
                             precision=getattr(args, "precision", "auto"))
            for _ in range(LIVE_WARMUP):
                engine.process(src.read(), cfg)
            yield engine, src, cfg
    finally:
        src.close()


def _frames(engine, src, cfg, tuner, n: int) -> float:
    """Seconds for ``n`` frames back to back, each one step of ``tuner``."""
    t0 = time.perf_counter()
    for _ in range(n):
        with tuner.step():
            engine.process(src.read(), cfg)
    return time.perf_counter() - t0


def _live(args, on: bool | None) -> dict[str, Any]:
    """App FPS of the Live engine, frame by frame after 5 untimed warm-up frames, each frame one step of a tuner
    that adapts the thread count (``on``) or holds the configured one (off): the same measurement either way."""
    with _live_setup(args) as (engine, src, cfg):
        tuner = _tuner(bool(on))  # after the warm-up: it sets its count now (off: the configured one)
        fps = args.frames / _frames(engine, src, cfg, tuner, args.frames)
    return {"value": round(fps, 2), "frames": args.frames, "warmup_frames": LIVE_WARMUP, "threads": tuner.report()}


def signal_group(procs: list[subprocess.Popen], sig: int, own: bool) -> None:
    """Send ``sig`` to each busy process (its whole group where it leads one)."""
    for p in procs:
        try:
            if own and hasattr(os, "killpg"):
                os.killpg(p.pid, sig)
            else:
                p.send_signal(sig)
        except (ProcessLookupError, PermissionError):
            pass


def _live_rounds(args, on: bool, procs: list[subprocess.Popen]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The live figure idle and loaded in ``args.rounds`` alternating rounds (``--rounds``): the busy processes
    stopped (SIGSTOP) for each idle round and let go on (SIGCONT, then ``SPREAD`` s for the scheduler) for each
    loaded one, so that the VM's drift between minutes hits both alike (measured here: idle 47-63 FPS within
    minutes). Each condition has its own tuner, kept across its rounds as in a loop that runs on in it; each figure
    is its frames over its rounds' time, the per-round ratios beside it."""
    own = args.busy_session == "own"
    per = max(1, args.frames // args.rounds)
    tuners: dict[bool, Any] = {}
    seconds = {False: 0.0, True: 0.0}
    ratios = []
    try:
        with _live_setup(args) as (engine, src, cfg):
            for _ in range(args.rounds):
                fps = {}
                for loaded in (False, True):
                    signal_group(procs, signal.SIGCONT if loaded else signal.SIGSTOP, own)
                    if loaded:
                        time.sleep(SPREAD)
                    if loaded not in tuners:  # made in its condition: a loop started under load starts lower
                        tuners[loaded] = _tuner(on)
                    tuners[loaded].resume()
                    dt = _frames(engine, src, cfg, tuners[loaded], per)
                    tuners[loaded].finish()
                    seconds[loaded] += dt
                    fps[loaded] = per / dt
                ratios.append(round(fps[True] / fps[False], 3))
    finally:
        # running again, whatever happened: the figures after this one are measured beside them, and their own
        # --max-seconds deadline only ends a process that runs (the command's SIGKILL ends a stopped one too)
        signal_group(procs, signal.SIGCONT, own)
    n = per * args.rounds
    common = {"frames": n, "warmup_frames": LIVE_WARMUP, "rounds": args.rounds, "round_ratios": ratios}
    return ({"value": round(n / seconds[False], 2), **common, "threads": tuners[False].report()},
            {"value": round(n / seconds[True], 2), **common, "threads": tuners[True].report()})


def _dataset(args):
    from app import paths
    from app.data import load

    shared = paths.shared_dir()
    if shared is not None and not args.quick:
        try:
            return load("mnist", "train", str(shared / "datasets"))
        except Exception:  # noqa: BLE001 - no usable MNIST there: the embedded digits
            pass
    return load("digits", "train")


def _extract(args, on: bool) -> dict[str, Any]:
    """Images/s of the probe's extraction (rdsn with the probe's defaults for gray images, no cache)."""
    import torch

    from app import device as devmod
    from app.models.inputs import dataset_stats, input_spec, to_tensor
    from app.models.spec import ModelSpec
    from app.probe.extract import batch_size, extract
    from app.probe.run import build_model, effective_spec
    from app.tasks import run_to_end
    from app.threads import drive, reports

    ds = _dataset(args)
    n = min(args.images, len(ds.images))
    images = ds.images[:n]
    torch.manual_seed(0)
    spec = effective_spec(ModelSpec.make("rdsn"), ds)
    model = build_model(spec)
    ispec = input_spec(spec, model, stats=dataset_stats(ds))
    # one untimed batch first (as bench extract): the first use's one-time costs (lazy initialisation, allocator)
    # land on neither figure; the first extraction of the process is otherwise always the idle one
    batch = batch_size(model, to_tensor(images[:1], ispec, "cpu"), 1)
    run_to_end(extract(model, images[:batch], ispec, 1, "grid3", device="cpu", key=None, label="bench load warm-up"))
    torch.set_num_threads(devmod.configured_threads())  # the warm-up's own tuner may have lowered it
    task = extract(model, images, ispec, 1, "grid3", device="cpu", key=None, label="bench load")
    # tuner on: the extraction's own tuner decides, as in a probe run (it times each batch on its worker); off: an
    # outer tuner that never adapts holds the configured count (the inner one, nested, only counts)
    tuner = None if on else _tuner(False)
    t0 = time.perf_counter()
    feats = run_to_end(task) if on else drive(task, tuner)
    dt = time.perf_counter() - t0
    report = reports().get("extract", {}) if on else tuner.report()
    return {"value": round(n / dt, 1), "images": n, "batches": -(-n // batch), "batch": batch,
            "warmup_images": batch,
            "features": int(feats.array.shape[1]) if hasattr(feats, "array") else None, "threads": report}


def _head(args, on: bool) -> dict[str, Any]:
    from app.probe.bench import bench_head

    ns = argparse.Namespace(quick=args.quick, dataset=None, data_root=None, backbone="rdsn", options=None, layer=0,
                            pooling="grid2", train_limit=args.head_train, test_limit=1000, weight_decay=1e-3,
                            epochs=100, seed=0, json=True)
    tuner = _tuner(on)
    r = bench_head(ns, tuner)
    return {"value": r["speedup"], "ours_seconds": r["ours_seconds"], "sklearn_seconds": r["sklearn_seconds"],
            "threads": tuner.report()}


def _measure(args, which: list[str], tuner_modes: list[bool]) -> dict[str, dict[str, Any]]:
    from app import device as devmod

    out: dict[str, dict[str, Any]] = {}
    for name in which:
        for on in tuner_modes:
            import torch

            torch.set_num_threads(devmod.configured_threads())  # as configured: a tuned run may have lowered it
            r = {"live": _live, "extract": _extract, "head": _head}[name](args, on)
            threads = r.get("threads") if isinstance(r.get("threads"), dict) else {}
            # the extraction's own tuner holds a forced count (--threads, FILTER_EXPLORER_THREADS,
            # FILTER_EXPLORER_TUNER=0) as a probe run does: the row says so rather than "tuner on"
            held = on and threads.get("adaptive") is False
            mode = "on, held: threads forced" if held else ("on" if on else "off")
            label = {"live": "live app FPS", "extract": "extract images/s",
                     "head": "head speedup over scikit-learn (x)"}[name] + f" (tuner {mode})"
            out[label] = r
    return out


def cmd_bench_load(args) -> int:
    from app import device as devmod
    from app.errors import UserError

    which = [b.strip() for b in args.benchmarks.split(",") if b.strip()]
    bad = [b for b in which if b not in BENCHMARKS]
    if bad or not which:
        raise UserError(f"--benchmarks {args.benchmarks!r}: choose from {', '.join(BENCHMARKS)}")
    if not 0 <= args.busy <= 4 * (os.cpu_count() or 1):
        raise UserError(f"--busy {args.busy}: 0..{4 * (os.cpu_count() or 1)} busy processes")
    if args.frames < 1 or args.images < 1 or args.head_train < 10:
        raise UserError("--frames and --images must be at least 1, --head-train at least 10")
    rounds = getattr(args, "rounds", 1)
    if not 1 <= rounds <= args.frames:
        raise UserError(f"--rounds {rounds}: 1..--frames ({args.frames}) rounds")
    if rounds > 1 and ("live" not in which or args.busy < 1 or not hasattr(signal, "SIGSTOP")):
        raise UserError("--rounds above 1 alternates the live figure's idle and loaded rounds: it needs live among "
                        "--benchmarks, at least one busy process and a system with SIGSTOP")
    if not (args.max_seconds > 0 and math.isfinite(args.max_seconds)):
        raise UserError(f"--max-seconds {args.max_seconds:g}: the busy processes' time limit must be more than 0 "
                        f"seconds (with 0 they end at once, and the \"loaded\" figures would carry no load)")
    if args.size is None:
        args.size = "64x96" if args.quick else "240x320"  # --quick's small frame only where no --size is given
    if "live" in which:
        from app.live.bench import parse_size

        try:
            parse_size(args.size)
        except ValueError as exc:
            raise UserError(str(exc)) from None
    if args.quick:
        args.frames, args.images, args.head_train = min(args.frames, 8), min(args.images, 256), 600
    modes = {"both": [False, True], "on": [True], "off": [False]}[args.tuner]
    prev_term = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # finally-blocks run on SIGTERM too
    # and on SIGHUP (the terminal closed, an ssh link dropped): the busy processes were left spinning until
    # --max-seconds
    prev_hup = signal.signal(signal.SIGHUP, lambda *_: sys.exit(129)) if hasattr(signal, "SIGHUP") else None
    import torch

    configured = torch.get_num_threads()
    try:
        load_before = list(os.getloadavg())
        apart = [b for b in which if b != "live"] if rounds > 1 else which  # live alternates inside (below)
        idle = _measure(args, apart, modes)
        torch.set_num_threads(configured)
        with busy_processes(args.busy, args.max_seconds, args.busy_session) as procs:
            busy_pids = [p.pid for p in procs]
            load_start = list(os.getloadavg())
            loaded = {}
            if rounds > 1:
                for on in modes:
                    torch.set_num_threads(configured)
                    label = f"live app FPS (tuner {'on' if on else 'off'})"
                    idle[label], loaded[label] = _live_rounds(args, on, procs)
                torch.set_num_threads(configured)
            loaded.update(_measure(args, apart, modes))
            load_end = list(os.getloadavg())  # the 1-minute average needs a minute to show the busy processes
            # --max-seconds shorter than the loaded pass: part of it ran without (all of) the load
            ended_early = [p.pid for p in procs if p.poll() is not None]
        torch.set_num_threads(configured)
    finally:
        signal.signal(signal.SIGTERM, prev_term)
        if prev_hup is not None:
            signal.signal(signal.SIGHUP, prev_hup)
    figures = []
    for name, a in sorted(idle.items(), key=lambda kv: which.index(kv[0].split()[0])):  # live first, as asked
        b = loaded[name]
        figures.append({"figure": name, "idle": a["value"], "loaded": b["value"],
                        "ratio": round(b["value"] / a["value"], 3) if a["value"] else None,
                        "idle_detail": a, "loaded_detail": b})
    res = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "busy": args.busy, "busy_pids": busy_pids,
           "busy_session": args.busy_session, "autogroup": autogroup(),
           "second_pass": "loaded" if args.busy else "repeat without load (--busy 0)",
           "busy_ended_early": ended_early,
           "cpu_count": os.cpu_count(), "torch_threads": configured, "forced_threads": devmod.forced_threads(),
           "load_average_before": load_before, "load_average_loaded_start": load_start,
           "load_average_loaded_end": load_end,
           "settings": {"frames": args.frames, "size": args.size, "precision": getattr(args, "precision", "auto"),
                        "rounds": rounds,
                        "images": args.images, "head_train": args.head_train, "quick": args.quick},
           "method": {name: METHOD[name] + (f"; idle and loaded in {rounds} alternating rounds (the busy processes "
                                            "stopped for the idle ones)" if name == "live" and rounds > 1 else "")
                      for name in which}, "figures": figures}
    if args.json:
        print(jsonout.dumps(res))
        return 0
    where = {"own": "each in a session of its own", "shared": "in this process's session"}[args.busy_session]
    group = {True: "autogroup scheduling on", False: "autogroup scheduling off", None: "autogroup unknown"}[autogroup()]
    if args.busy:
        print(f"bench load: {args.busy} busy processes ({where}; {group}) on {os.cpu_count()} cores, torch threads "
              f"{configured}; load average before {load_before[0]:.2f}, at the loaded start {load_start[0]:.2f}, at "
              f"its end {load_end[0]:.2f}")
        second, ratio = "loaded", "loaded/idle"
    else:
        print(f"bench load: --busy 0: no busy processes, the second pass is a repeat without load; "
              f"{os.cpu_count()} cores, torch threads {configured}; load average before {load_before[0]:.2f}, at "
              f"the repeat's start {load_start[0]:.2f}, at its end {load_end[0]:.2f}")
        second, ratio = "repeat", "repeat/first"
    for f in figures:
        print(f"  {f['figure']:<46} idle {f['idle']:>9.2f}  {second} {f['loaded']:>9.2f}  {ratio} {f['ratio']}")
        if f["idle_detail"].get("round_ratios"):
            print(f"    {rounds} alternating rounds, each round's ratio: {f['idle_detail']['round_ratios']}")
    if ended_early:
        print(f"note: {len(ended_early)} of the {args.busy} busy processes had ended (--max-seconds "
              f"{args.max_seconds:g}) before the loaded figures were done: part of them ran without that load")
    for name in which:
        print(f"{name}: {res['method'][name]}")
    return 0
