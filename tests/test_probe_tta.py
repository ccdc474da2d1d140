"""Test-time mirror views (#13, ``--tta hflip``): each validation and test image is scored by the mean of its own and
its mirror image's features, i.e. for a linear head by the mean of the two views' scores; the head trains on the
training images as they are; the setting is recorded, rerun, overridable in a preset, and refused where it means
nothing."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.data import load
from app.models.spec import ModelSpec
from app.probe import presets
from app.probe.config import ProbeConfig
from app.probe.head_export import load_head, open_head
from app.probe.resolve import ProbeSettingsError
from app.probe.run import run_probe, test_split
from app.tasks import run_to_end


def test_a_mirrored_dataset_flips_each_image_left_to_right_and_keeps_the_labels():
    ds = load("digits", "test")
    m = ds.mirrored()
    assert m.images.shape == ds.images.shape and np.array_equal(m.labels, ds.labels)
    assert np.array_equal(m.images[:, :, 0], ds.images[:, :, -1])  # the first column is the last one
    assert np.array_equal(m.mirrored().images, ds.images)
    assert m.fingerprint != ds.fingerprint  # its own content key: features are never served from the other's cache


def test_a_shifted_dataset_moves_each_image_one_pixel_and_fills_the_edge_with_black():
    ds = load("digits", "test")
    down = ds.shifted(1, 0)
    assert down.images.shape == ds.images.shape and np.array_equal(down.labels, ds.labels)
    assert np.array_equal(down.images[:, 1:], ds.images[:, :-1]) and not down.images[:, 0].any()
    left = ds.shifted(0, -1)
    assert np.array_equal(left.images[:, :, :-1], ds.images[:, :, 1:]) and not left.images[:, :, -1].any()
    img = np.arange(9, dtype=np.uint8).reshape(1, 3, 3)  # by hand: up and right by one
    small = type(ds)("t", "test", img, np.zeros(1, np.int64), ("a",), ds.mean, ds.std, ds.notes)
    assert small.shifted(-1, 1).images[0].tolist() == [[0, 3, 4], [0, 6, 7], [0, 0, 0]]
    assert not small.shifted(3, 0).images.any()  # moved out of the frame: black
    assert down.fingerprint != ds.fingerprint  # its own content key in the feature cache


def _config(tta: str) -> ProbeConfig:
    return ProbeConfig(model=ModelSpec.make("simple", options={"widths": [4, 8], "in_channels": 1}, seed=0),
                       dataset="digits", head="ridge", grid=(10.0,), test_limit=150, tta=tta, layer=-1,
                       pooling="grid2")


def test_hflip_scores_each_test_image_by_the_mean_of_its_two_views(fe_home):
    plain = run_to_end(run_probe(_config("none")))
    mirror = run_to_end(run_probe(_config("hflip")))
    assert plain.settings["tta"] == "none" and mirror.settings["tta"] == "hflip"
    assert mirror.config.tta == "hflip" and mirror.resolved.tta == "hflip"
    np.testing.assert_array_equal(load_head(plain.settings["head_file"]).W, load_head(mirror.settings["head_file"]).W)
    # the same training images and fixed penalty: one head; applied as Live applies it, to each view by hand
    head = open_head(plain.settings["head_file"])
    test = test_split(plain.resolved)
    one = head.scores(test.images)
    both = one + head.scores(test.mirrored().images)  # by hand: the two views' scores added
    assert np.mean(one.argmax(1) == test.labels) == pytest.approx(plain.top1, abs=1 / len(test))
    assert np.mean(both.argmax(1) == test.labels) == pytest.approx(mirror.top1, abs=1 / len(test))
    assert mirror.top1 != plain.top1  # digits are not mirror-symmetric: the views changed the answer (why the
    # digit presets do not use them)


def test_shift1_scores_each_test_image_by_the_mean_of_its_five_views(fe_home):
    plain = run_to_end(run_probe(_config("none")))
    shift = run_to_end(run_probe(_config("shift1")))
    assert shift.settings["tta"] == "shift1" and shift.resolved.tta == "shift1"
    np.testing.assert_array_equal(load_head(plain.settings["head_file"]).W, load_head(shift.settings["head_file"]).W)
    head = open_head(plain.settings["head_file"])
    test = test_split(plain.resolved)
    views = [test] + [test.shifted(dy, dx) for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1))]
    total = sum(head.scores(v.images) for v in views)  # by hand: the five views' scores added
    assert np.mean(total.argmax(1) == test.labels) == pytest.approx(shift.top1, abs=1 / len(test))
    missing = sum(head.scores(v.images) for v in views[:3])  # three of the views only: another answer
    assert np.mean(missing.argmax(1) == test.labels) != pytest.approx(shift.top1, abs=0.5 / len(test))


def test_the_setting_round_trips_and_old_records_read_as_none():
    cfg = _config("hflip")
    assert ProbeConfig.from_dict(cfg.to_dict()).tta == "hflip"
    d = cfg.to_dict()
    del d["tta"]  # a run stored before the setting existed
    assert ProbeConfig.from_dict(d).tta == "none"


def test_bad_values_are_the_projects_errors(fe_home):
    import dataclasses

    with pytest.raises(ProbeSettingsError, match="tta .*none, hflip, shift1"):
        run_to_end(run_probe(dataclasses.replace(_config("none"), tta="vflip")))
    with pytest.raises(ProbeSettingsError, match="own classifier"):
        run_to_end(run_probe(dataclasses.replace(_config("hflip"), head="own")))


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    from app.cli import run

    code = run(["--threads", "1", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_command_line_records_it_and_a_preset_field_can_be_overridden(capsys, fe_home):
    code, out, err = _cli(capsys, "probe", "--dataset", "digits", "--backbone", "simple", "--head", "ridge",
                          "--test-limit", "100", "--tta", "hflip", "--json")
    assert code == 0, err
    d = json.loads(out)
    assert d["config"]["tta"] == "hflip" and d["settings"]["tta"] == "hflip"
    with pytest.raises(SystemExit) as stop:  # argparse's own check of the choices
        _cli(capsys, "probe", "--dataset", "digits", "--tta", "sideways")
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "--tta" in err and "invalid choice" in err
    code, out, err = _cli(capsys, "probe", "--dataset", "digits", "--backbone", "simple", "--tta", "hflip",
                          "--head", "own")
    assert code == 2 and "own classifier" in err and "Traceback" not in err
    values, over = presets.apply("random-cifar10", {"tta": "none"})
    assert values["tta"] == "none" and (over == {"tta": "none"}) == (presets.get("random-cifar10").tta != "none")


def test_runs_with_and_without_mirror_views_are_never_one_comparison_group(fe_home, tmp_path):
    from app.probe.compare import compare_groups
    from app.probe.history import History

    h = History(tmp_path / "history.sqlite")
    plain = run_to_end(run_probe(_config("none")))
    mirror = run_to_end(run_probe(_config("hflip")))
    shift = run_to_end(run_probe(_config("shift1")))
    ids = [h.add(plain), h.add(mirror), h.add(plain), h.add(shift)]
    runs = {r.id: r for r in h.list()}
    assert [runs[i].tta for i in ids] == ["none", "hflip", "none", "shift1"]
    groups = compare_groups(runs.values())
    # the two plain runs alone are one group
    assert sorted(g.ids for g in groups) == [(ids[0], ids[2]), (ids[1],), (ids[3],)]
    assert {g.tta for g in groups} == {"none", "hflip", "shift1"}
    titles = {g.tta: g.title for g in groups}
    assert "mirror views" in titles["hflip"] and "shift views" in titles["shift1"]
    assert "views" not in titles["none"]
    h.close()


def test_an_older_history_gains_the_column_filled_from_each_runs_record(fe_home, tmp_path):
    import sqlite3

    from app.probe.history import History

    path = tmp_path / "old.sqlite"
    h = History(path)
    rid = h.add(run_to_end(run_probe(_config("hflip"))))
    h.close()
    db = sqlite3.connect(str(path))  # as a history written before the column existed
    db.execute("ALTER TABLE runs DROP COLUMN tta")
    db.commit()
    db.close()
    h = History(path)
    assert [r.tta for r in h.list() if r.id == rid] == ["hflip"]
    h.close()
