#!/usr/bin/env python3
"""Copy standard input to standard output, each progress line (ended by a newline or a carriage return) on its own
line after the seconds since the start: `[  12.3 s] probe: extracting ...`. scripts/gpu-check.sh passes each step's
error stream through it, so that a run's kept log says where its time went (the product's own progress lines carry
no clock)."""

import sys
import time


def main() -> int:
    t0 = time.perf_counter()
    buf = b""
    src, out = sys.stdin.buffer, sys.stdout
    while True:
        chunk = src.read1(65536)
        if not chunk:
            break
        buf += chunk
        while True:
            cut = min((i for i in (buf.find(b"\n"), buf.find(b"\r")) if i >= 0), default=-1)
            if cut < 0:
                break
            line, buf = buf[:cut].rstrip(), buf[cut + 1:]
            if line:
                out.write(f"[{time.perf_counter() - t0:7.1f} s] {line.decode(errors='replace')}\n")
                out.flush()
    if buf.strip():
        out.write(f"[{time.perf_counter() - t0:7.1f} s] {buf.rstrip().decode(errors='replace')}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
