"""``probe --rerun ID`` says whether the rerun reproduced the run it reran (``app.probe.paired.rerun_check``): the same
selection, validation figure and prediction for every test image; or what differs, image by image (McNemar), and
whether the two ran on different machines (where float rounding alone can move a figure)."""

from __future__ import annotations

import json

import pytest

from app.probe.paired import mcnemar_exact, rerun_check

A = {"cpu": "AMD EPYC", "cpu_kernels": "AVX2", "cores": 2, "system": "Linux x86_64", "torch": "2.13.0"}
B = {**A, "cpu": "Intel Xeon", "cpu_kernels": "AVX512"}


def _run(rid, wrong, predicted=None, selected=None, val=0.9, machine=A, fingerprint="f", n=100):
    wrong = list(wrong)
    return {"run_id": rid, "n_test": n, "classes": ["a", "b"], "misclassified": wrong,
            "mis_predicted": list(predicted) if predicted is not None else [1] * len(wrong),
            "test_top1": (n - len(wrong)) / n, "val_top1": val, "selected": selected or {"weight_decay": 0.001},
            "test_fingerprint": fingerprint, "machine": machine}


def test_the_same_predictions_selection_and_validation_figure_are_reproduced():
    r = rerun_check(_run(3, [1, 5, 9]), _run(4, [1, 5, 9]))
    assert r["reproduced"] and r["of"] == 3 and r["machines_differ_in"] == []
    assert r["text"] == ("Against run 3: reproduced (the same selection, validation figure and prediction for every "
                         "one of the 100 test images).")
    assert r["paired"]["a_right_b_wrong"] == r["paired"]["b_right_a_wrong"] == 0


def test_a_rerun_that_differs_says_what_image_by_image_and_names_the_machines():
    r = rerun_check(_run(3, [1, 5, 9]), _run(4, [1, 2, 5, 7, 8], machine=B))
    assert not r["reproduced"] and r["machines_differ_in"] == ["cpu", "cpu_kernels"]
    assert r["text"] == (
        "Against run 3: not reproduced: test top-1 95.00% against 97.00%: 1 test image right now and wrong then, "
        f"3 the reverse (McNemar's exact p = {mcnemar_exact(3, 1):.3g}); run 3 was computed on AMD EPYC (AVX2 "
        "kernels), 2 cores, Linux x86_64, torch 2.13.0, this rerun on Intel Xeon (AVX512 kernels), 2 cores, Linux "
        "x86_64, torch 2.13.0: float rounding alone can make such a difference.")


def test_another_selection_or_validation_figure_or_class_is_not_reproduced():
    sel = rerun_check(_run(3, [1]), _run(4, [1], selected={"weight_decay": 0.01}))
    assert not sel["reproduced"]
    assert sel["text"] == ("Against run 3: not reproduced: validation selected weight_decay 0.01 where it had "
                           "selected weight_decay 0.001; the same processor, CPU kernels and torch.")
    val = rerun_check(_run(3, [1], machine={}), _run(4, [1], val=0.91))
    assert not val["reproduced"]
    assert val["text"] == ("Against run 3: not reproduced: validation top-1 91.00% against 90.00%; run 3 did not "
                           "record its machine.")
    cls = rerun_check(_run(3, [1, 2], predicted=[0, 0]), _run(4, [1, 2], predicted=[0, 1]))
    assert not cls["reproduced"] and "the same images right and wrong, some wrong ones given another class" in \
        cls["text"]


def test_a_rerun_on_other_test_images_is_not_paired():
    r = rerun_check(_run(3, [1]), _run(4, [1], fingerprint="other"))
    assert not r["reproduced"] and r["paired"] is None
    assert r["text"].startswith("Against run 3: not comparable image by image (run 3 and run 4 were scored on "
                                "different test images")


def test_probe_rerun_says_it_reproduced_the_run(capsys, fe_home):
    from app.cli import run

    assert run(["--threads", "1", "probe", "--dataset", "digits", "--backbone", "simple", "--head", "logistic",
                "--train-limit", "300", "--test-limit", "100", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    # on two threads: the heads' sums are fixed slices, so the count does not change a bit
    assert run(["--threads", "2", "probe", "--rerun", str(first["run_id"]), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["rerun_of"] == first["run_id"] and d["rerun_check"]["reproduced"] is True
    assert d["rerun_check"]["test_top1"] == [first["test_top1"], d["test_top1"]]
    assert run(["probe", "--rerun", str(first["run_id"])]) == 0
    assert f"  Against run {first['run_id']}: reproduced" in capsys.readouterr().out
    # the history lists each rerun with its note
    assert run(["history", "list"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0].endswith(f"(rerun of run {first['run_id']})") and not rows[-1].endswith(")")
    assert run(["history", "list", "--json"]) == 0
    notes = [r["note"] for r in json.loads(capsys.readouterr().out)]
    assert notes == [f"rerun of run {first['run_id']}"] * 2 + [""]


@pytest.mark.parametrize("planted", ["selected", "misclassified"])
def test_a_stored_run_changed_behind_the_rerun_is_caught(capsys, fe_home, planted):
    """The check reads the stored record: a record whose selection or errors are not what the rerun gives (as a run
    on another machine, or a changed head, would leave) is reported as not reproduced."""
    from app.cli import run
    from app.probe.history import History

    assert run(["--threads", "1", "probe", "--dataset", "digits", "--backbone", "simple", "--head", "logistic",
                "--train-limit", "300", "--test-limit", "100", "--json"]) == 0
    rid = json.loads(capsys.readouterr().out)["run_id"]
    with History() as h:
        d = h.get(rid)
        if planted == "selected":
            d["selected"] = {"weight_decay": 123.0}
        else:
            right = next(i for i in range(100) if i not in d["misclassified"])
            d["misclassified"] = [right] + list(d["misclassified"])[1:]  # one error on another image: same top-1
        h.db.execute("UPDATE runs SET json = ? WHERE id = ?", (json.dumps(d), rid))
        h.db.commit()
    assert run(["probe", "--rerun", str(rid), "--json"]) == 0
    check = json.loads(capsys.readouterr().out)["rerun_check"]
    assert check["reproduced"] is False and check["text"].startswith(f"Against run {rid}: not reproduced: "), check
    if planted == "misclassified":
        assert check["paired"]["a_right_b_wrong"] == check["paired"]["b_right_a_wrong"] == 1


@pytest.mark.gui
def test_the_probe_reruns_a_stored_run_and_says_it_reproduced_it(qtbot, fe_home, tmp_path, capsys):
    """History box: one run selected, Rerun runs it again on the worker (its record read there), stores the new run
    and says in the banner whether it reproduced the stored one; two selected or a batch running: no Rerun."""
    from PySide6.QtCore import QItemSelectionModel, QSettings

    from app.cli import run
    from app.probe.history import History
    from app.session import Session
    from widgets.application import make_app
    from widgets.probe.workspace import ProbeWorkspace

    for seed in ("0", "1"):
        assert run(["--threads", "1", "probe", "--dataset", "digits", "--backbone", "simple", "--head", "ridge",
                    "--train-limit", "300", "--test-limit", "100", "--model-seed", seed, "--json"]) == 0
    ids = [json.loads(line)["run_id"] for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    make_app()
    ws = ProbeWorkspace(Session(), QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(ws)
    ws.resize(1400, 860)
    ws.show()
    ws.refresh_history()
    table = ws.history_panel.table

    def select(*rids):
        table.table.clearSelection()
        sm = table.table.selectionModel()
        for rid in rids:
            sm.select(table.model.index(table.shown_ids().index(rid), 0),
                      QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows)

    qtbot.waitUntil(lambda: len(table.shown_ids()) == 2, timeout=10_000)
    select(*ids)
    assert not table.rerun_btn.isEnabled()  # two runs: which one?
    select(ids[0])
    assert table.rerun_btn.isEnabled()
    with qtbot.waitSignal(ws.batchDone, timeout=60_000):
        table.rerun_btn.click()
        assert not table.rerun_btn.isEnabled()  # the batch runs
    assert ws.banner.text() == (f"Against run {ids[0]}: reproduced (the same selection, validation figure and "
                                "prediction for every one of the 100 test images).")
    qtbot.waitUntil(lambda: len(table.shown_ids()) == 3, timeout=10_000)
    from PySide6.QtCore import Qt

    tip = table.model.data(table.model.index(table.shown_ids().index(max(table.shown_ids())), 0),
                           int(Qt.ItemDataRole.ToolTipRole.value))
    assert tip == f"rerun of run {ids[0]}"  # the new run's number says what it is
    assert table.model.data(table.model.index(table.shown_ids().index(ids[0]), 0),
                            int(Qt.ItemDataRole.ToolTipRole.value)) is None
    with History() as h:
        newest = max(h.list(None), key=lambda r: r.id)
        assert len(h) == 3 and newest.note == f"rerun of run {ids[0]}"
    qtbot.waitUntil(table.rerun_btn.isEnabled, timeout=10_000)
    # a run stored before runs kept their whole record: the rerun fails with the reason, nothing else is stored
    with History() as h:
        d = h.get(ids[1])
        d.pop("resolved")
        h.db.execute("UPDATE runs SET json = ? WHERE id = ?", (json.dumps(d), ids[1]))
        h.db.commit()
    select(ids[1])
    with qtbot.waitSignal(ws.batchDone, timeout=60_000):
        table.rerun_btn.click()
    assert "this run was stored before runs kept their complete record; it cannot be rebuilt" in ws.banner.text()
    with History() as h:
        assert len(h) == 3


def test_the_compare_tables_word_on_a_groups_reruns():
    """``seed_reruns`` pairs each rerun with the first run of its seeds; ``reruns_text`` sums the verdicts up for the
    Compare table's Runs cell (a rerun without a record of its images is not comparable, not a difference)."""
    from app.probe.compare import GroupStat, reruns_text, seed_reruns

    g = GroupStat(key=(), label="rdsn", weight_state="random", dataset="digits", head="logistic", layer=1,
                  pooling="gap", n_train=10, n_runs=5, top1_mean=0.9, top1_std=0.0, top5_mean=None,
                  ids=(2, 3, 5, 8, 9), chance=0.1, seeds=((0, 0, 0), (0, 1, 1), (0, 0, 0), (0, 1, 1), (0, 0, 0)))
    assert seed_reruns(g) == [(2, 5), (3, 8), (2, 9)]
    import dataclasses

    assert seed_reruns(dataclasses.replace(g, seeds=((0, 0, 0), (0, None, 1), (0, 0, 0), (0, 1, 1), (0, 0, 0)))) == []
    same = rerun_check(_run(2, [1, 5]), _run(5, [1, 5]))
    other = rerun_check(_run(3, [1, 5]), _run(8, [1, 6]))
    unpaired = rerun_check(_run(2, [1]), _run(9, [1], fingerprint="other"))
    assert reruns_text([]) == ("", "")
    assert reruns_text([(2, 5, same)])[0] == "reproduced"
    assert reruns_text([(2, 5, same), (3, 8, same)])[0] == "all 2 reruns reproduced"
    assert reruns_text([(3, 8, other)])[0] == "the rerun differs"
    assert reruns_text([(2, 5, same), (3, 8, other)])[0] == "1 of 2 reruns differs"
    assert reruns_text([(3, 8, other), (3, 8, other)])[0] == "2 of 2 reruns differ"
    assert reruns_text([(2, 9, unpaired)])[0] == "not comparable"
    short, tip = reruns_text([(2, 5, same), (3, 8, other), (2, 9, unpaired)])
    assert short == "1 of 3 reruns differs, 1 not comparable"
    assert tip.split("\n") == ["Run 5, " + "a" + same["text"][1:], "Run 8, a" + other["text"][1:],
                               "Run 9, a" + unpaired["text"][1:]]
