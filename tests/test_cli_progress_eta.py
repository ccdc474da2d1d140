"""The headless commands' progress line says the time left of the stage under way once it has run 2 s (session
33: a 20-minute preset said only its percentage)."""

from __future__ import annotations

import time

from app.tasks import Progress, cli_progress


def test_the_progress_line_says_the_time_left(monkeypatch, capsys):
    clock = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    show = cli_progress("probe: ")
    for t, done in [(100.0, 0), (101.0, 100), (103.0, 300), (104.0, 400)]:
        clock[0] = t
        show(Progress(done, 1000, f"extracting train features {done}/1000"))
    lines = capsys.readouterr().err.split("\r")[1:]
    assert [ln.rstrip() for ln in lines] == [
        "probe:   0.0% extracting train features 0/1000",
        "probe:  10.0% extracting train features 100/1000",  # 1 s in: no estimate yet
        "probe:  30.0% extracting train features 300/1000 · 7 s left",  # 100 a second since the start, 700 to go
        "probe:  40.0% extracting train features 400/1000 · 6 s left"]
    assert all(len(ln) == len(lines[0]) for ln in lines)  # one width: a shorter line leaves nothing behind
    clock[0] = 105.0
    show(Progress(0, None, "training logistic head"))  # a stage of unknown length: no estimate
    clock[0] = 106.0
    show(Progress(1000, 1000, "done"))
    err = capsys.readouterr().err
    assert "left" not in err and err.endswith("\n")


def test_a_stage_announcement_is_never_dropped(monkeypatch, capsys):
    clock = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    show = cli_progress("probe: ")
    for t, p in [(100.0, Progress(0, None, "loading dataset")), (100.1, Progress(0, None, "scanning train")),
                 (100.2, Progress(5, 100, "decoding train")), (100.3, Progress(6, 100, "decoding train")),
                 (100.4, Progress(0, None, "building rdsn"))]:
        clock[0] = t
        show(p)
    lines = [ln.strip() for ln in capsys.readouterr().err.split("\r")[1:]]
    # the stages all shown; within half a second of the last line, a counted step is left out (two a second at most)
    assert lines == ["probe:   ... loading dataset", "probe:   ... scanning train", "probe:   ... building rdsn"]
