#!/usr/bin/env python3
"""Copy standard input to standard output, each progress line (ended by a newline or a carriage return) on its own
line after the seconds since the start at which its first byte came: `[  12.3 s] probe: extracting ...`.
scripts/gpu-check.sh passes each step's error stream through it, so that a run's kept log says where its time went
(the product's own progress lines carry no clock). A progress line of the headless commands starts with a carriage
return and ends without one: it is stamped when it was written, not when the next one replaced it."""

from __future__ import annotations

import sys
import time


class Stamper:
    """Lines out of chunks of bytes, each with the time its first byte came."""

    def __init__(self) -> None:
        self.buf = b""
        self.started: float | None = None  # when the line in ``buf`` got its first byte

    def feed(self, chunk: bytes, t: float) -> list[tuple[float, str]]:
        out = []
        for i, byte in enumerate(chunk):
            if byte in (10, 13):  # \n, \r
                if self.buf.strip():
                    out.append((self.started, self.buf.rstrip().decode(errors="replace")))
                self.buf, self.started = b"", None
            else:
                if self.started is None:
                    self.started = t
                self.buf += chunk[i:i + 1]
        return out

    def end(self) -> list[tuple[float, str]]:
        return [(self.started, self.buf.rstrip().decode(errors="replace"))] if self.buf.strip() else []


def main() -> int:
    t0 = time.perf_counter()
    st = Stamper()
    src, out = sys.stdin.buffer, sys.stdout
    try:
        while True:
            chunk = src.read1(65536)
            lines = st.feed(chunk, time.perf_counter() - t0) if chunk else st.end()
            for t, line in lines:
                out.write(f"[{t:7.1f} s] {line}\n")
            out.flush()
            if not chunk:
                return 0
    except BrokenPipeError:  # the reader went away (e.g. `| head`): nothing more to say
        return 0


if __name__ == "__main__":
    sys.exit(main())
