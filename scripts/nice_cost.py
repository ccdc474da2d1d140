"""What a lower priority costs background work (issue 14; docs/benchmarks/startup.md, "Training curves").

A single-threaded torch loop (1,500 products of 384x384 matrices) is timed in a thread at nice 0, 5 and 10 (the
thread's own Linux nice value, as ``app.priority.background_priority`` sets it), with 0, 1 and 2 busy processes
(Python loops, ended by this script) beside it. Linux only.

    python scripts/nice_cost.py          # T=2: a two-thread torch team in the niced thread instead
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import torch

A = torch.randn(384, 384)


def work() -> float:
    t = time.perf_counter()
    for _ in range(1500):
        A @ A
    return time.perf_counter() - t


def in_thread(nice: int) -> float:
    out = {}

    def run():
        if nice:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
        torch.set_num_threads(int(os.environ.get("T", "1")))
        out["t"] = work()

    th = threading.Thread(target=run)
    th.start()
    th.join()
    return out["t"]


def main() -> None:
    for busy in (0, 1, 2):
        procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(busy)]
        time.sleep(1)
        try:
            res: dict[int, list[float]] = {0: [], 5: [], 10: []}
            for _ in range(2):
                for nice in res:
                    res[nice].append(in_thread(nice))
            print(f"busy {busy}: " + ", ".join(f"nice {n}: {min(v):.2f}-{max(v):.2f} s" for n, v in res.items()),
                  flush=True)
        finally:
            for p in procs:
                p.kill()


if __name__ == "__main__":
    main()
