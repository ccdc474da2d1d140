"""A probe run whose head cannot fit in memory is refused before its extraction (``app.probe.memory``), with the
project's LimitError and a message that says what it needs and what to change, instead of extracting for minutes
and then being ended by the system's out-of-memory killer (the desktop window with it)."""

from __future__ import annotations

import pytest

from app.errors import LimitError
from app.models.spec import ModelSpec
from app.probe import extract as ex
from app.probe import memory
from app.probe.config import ProbeConfig
from app.probe.run import run_probe
from app.tasks import run_to_end
from tests.cli_inprocess import run_cli

GIB = 2 ** 30


def test_need_counts_the_heads_arrays_by_hand():
    # random-cifar10's run: 45,000 training rows and the 10,000 test rows beside them, 36,864 float32 features
    assert memory.need("logistic", 45_000, 5_000, 10_000, 36_864) == 4 * 36_864 * 55_000
    assert memory.need("svm", 100, 30, 20, 7) == 4 * 7 * 130  # the larger scored split
    assert memory.need("knn", 100, 0, 20, 7) == 4 * 7 * 120
    assert memory.need("ridge", 1000, 10, 10, 50) == 8 * 50 * 50  # primal: the d x d Gram matrix
    assert memory.need("ridge", 100, 10, 10, 500) == 8 * 100 * 100 + 4 * 100 * 500  # dual: n x n and the rows
    assert memory.need("own", 45_000, 5_000, 10_000, 10**6) == 0
    # a PCA budget: the fit's two float64 copies of the training features; then the head on the budget's features
    assert memory.need("logistic", 1000, 100, 100, 5000, budget=64) == 16 * 5000 * 1000
    assert memory.need("logistic", 1000, 100, 100, 5000, budget=64, budget_method="random") == 4 * 64 * 1100
    assert memory.need("logistic", 1000, 100, 100, 50, budget=64) == 4 * 50 * 1100  # budget above d: unchanged


def test_available_reads_meminfo_and_a_containers_cgroup(tmp_path, monkeypatch):
    info = tmp_path / "meminfo"
    info.write_text("MemTotal:       24000000 kB\nMemFree:  100 kB\nMemAvailable:   20000000 kB\n")
    assert memory._meminfo_available(info) == 20_000_000 * 1024
    info.write_text("MemTotal: 1 kB\n")
    assert memory._meminfo_available(info) is None
    assert memory._meminfo_available(tmp_path / "absent") is None
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "memory.max").write_text("8589934592\n")
    (v2 / "memory.current").write_text("3221225472\n")
    (v2 / "memory.stat").write_text("anon 1\ninactive_file 1073741824\nactive_file 5\n")
    assert memory._cgroup_available(v2) == 8 * GIB - 3 * GIB + 1 * GIB  # the inactive page cache counts as free
    (v2 / "memory.max").write_text("max\n")
    assert memory._cgroup_available(v2) is None
    v1 = tmp_path / "v1"
    (v1 / "memory").mkdir(parents=True)
    (v1 / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712\n")  # v1's "no limit"
    (v1 / "memory" / "memory.usage_in_bytes").write_text("100\n")
    assert memory._cgroup_available(v1) is None
    (v1 / "memory" / "memory.limit_in_bytes").write_text("4294967296\n")
    (v1 / "memory" / "memory.stat").write_text("total_inactive_file 50\n")
    assert memory._cgroup_available(v1) == 4 * GIB - 100 + 50
    # the CPU's figure is the smaller of the two
    monkeypatch.setattr(memory, "_meminfo_available", lambda: 20 * GIB)
    monkeypatch.setattr(memory, "_cgroup_available", lambda: 2 * GIB)
    assert memory.available("cpu") == 2 * GIB
    monkeypatch.setattr(memory, "_cgroup_available", lambda: None)
    assert memory.available("cpu") == 20 * GIB


def test_check_fits_refuses_what_cannot_fit_and_says_what_to_change(monkeypatch):
    monkeypatch.setattr(memory, "available", lambda device: 20 * GIB)
    memory.check_fits("logistic", 45_000, 5_000, 10_000, 36_864, "cpu")  # 7.6 GiB: fits
    with pytest.raises(LimitError) as err:  # rdsn k = 100,000 with global average pooling on CIFAR-10
        memory.check_fits("logistic", 45_000, 5_000, 10_000, 100_000, "cpu", what="rdsn (random)")
    text = str(err.value)
    for needle in ("rdsn (random): the logistic head needs at least 20.5 GB", "20.0 GB available now",
                   "45,000 training + 10,000 scored images x 100,000 features", "nothing was extracted",
                   "fewer training images", "feature budget", "FILTER_EXPLORER_LIMITS=off"):
        assert needle in text, (needle, text)
    monkeypatch.setattr(memory, "available", lambda device: None)  # a system that does not say: not checked
    memory.check_fits("logistic", 45_000, 5_000, 10_000, 100_000, "cpu")
    monkeypatch.setattr(memory, "available", lambda device: 1)
    monkeypatch.setenv("FILTER_EXPLORER_LIMITS", "off")  # the user means it
    memory.check_fits("logistic", 45_000, 5_000, 10_000, 100_000, "cpu")


def test_a_pca_budgets_fit_is_checked_against_host_memory_on_a_gpu_run_too(monkeypatch):
    """The PCA fit runs in numpy on the host whatever the head's device: a GPU with room does not let a fit through
    that the host cannot hold."""
    import torch

    room = {"cuda": 100 * GIB, "cpu": 2 * GIB}
    monkeypatch.setattr(memory, "available", lambda device: room[torch.device(device).type])
    assert memory.parts("logistic", 50_000, 5_000, 10_000, 10_000, budget=512) == (4 * 512 * 60_000,
                                                                                   16 * 10_000 * 50_000)
    with pytest.raises(LimitError, match=r"the PCA feature budget's fit needs at least 7.5 GB.*float64.*this "
                                         r"machine has 2.0 GB"):
        memory.check_fits("logistic", 50_000, 5_000, 10_000, 10_000, torch.device("cuda"), budget=512)
    memory.check_fits("logistic", 50_000, 5_000, 10_000, 10_000, torch.device("cuda"), budget=512,
                      budget_method="random")  # a random projection: no such copy
    room["cpu"] = 8 * GIB
    memory.check_fits("logistic", 50_000, 5_000, 10_000, 10_000, torch.device("cuda"), budget=512)


def _config(**kw) -> ProbeConfig:
    base = dict(model=ModelSpec.make("rdsn", options={"k": 16, "blocks": 1}), dataset="digits", head="logistic",
                train_limit=300, test_limit=120, pooling="grid2")
    return ProbeConfig(**{**base, **kw})


def test_a_run_that_cannot_fit_is_refused_before_any_extraction(fe_home, monkeypatch):
    """The feature count comes from one image (rdsn k = 16, grid2 pooling: 64 features): with 4 KiB available the
    run is refused and nothing is extracted or stored; with the memory it needs it runs as before."""
    seen = []
    monkeypatch.setattr(memory, "available", lambda device: seen.append(str(device)) or 4096)
    extracted = []
    real = ex.extract

    def spy(*a, **kw):
        extracted.append(kw.get("label"))
        return (yield from real(*a, **kw))

    monkeypatch.setattr(ex, "extract", spy)
    with pytest.raises(LimitError, match=r"x 64 features.*nothing was extracted"):
        run_to_end(run_probe(_config()))
    assert seen == ["cpu"] and extracted == []
    monkeypatch.setattr(memory, "available", lambda device: 4 * GIB)
    result = run_to_end(run_probe(_config()))
    assert result.n_features == 64 and extracted  # the count checked is the count the head saw


def test_a_cached_run_reads_its_feature_count_from_the_cache_file(fe_home, monkeypatch):
    """The check's feature count of a run whose training features are cached comes from the file's header: no
    forward at all (the cache hit's promise), and still the count the head sees; a file of another row count is not
    taken for it."""
    run_to_end(run_probe(_config()))
    forwards = []
    real = ex._maps_fn
    monkeypatch.setattr(ex, "_maps_fn", lambda *a: forwards.append(a) or real(*a))
    counted = []
    real_count = ex.feature_count
    monkeypatch.setattr(ex, "feature_count", lambda *a, **kw: counted.append(real_count(*a, **kw)) or counted[-1])
    again = run_to_end(run_probe(_config()))
    assert again.feature_cache_hit and forwards == [] and counted == [64] and again.n_features == 64
    cached = sorted((fe_home / "cache" / "features").glob("*.npy"))
    assert cached and ex.cached_width(cached[0].stem, 10**6) is None and ex.cached_width(None, 1) is None


def test_each_candidate_of_a_selection_is_checked(fe_home, monkeypatch):
    """Choosing the pooling on validation fits every candidate on the training rows and scores the validation rows:
    each candidate is checked with those counts, before any extraction (gap 16, grid2 64, grid3 144 features: with
    room for 150,000 bytes, grid3's 4 x 144 x 300 is refused)."""
    asked = []

    def fits(head, n_train, n_val, n_test, d, device, budget=None, budget_method=None, what=""):
        asked.append((d, n_train + n_test))
        if 4 * d * (n_train + n_test) > 160_000:
            raise LimitError(f"{d} features do not fit")

    monkeypatch.setattr(memory, "check_fits", fits)
    monkeypatch.setattr(ex, "extract", lambda *a, **kw: pytest.fail("extracted before the check"))
    with pytest.raises(LimitError, match="144 features do not fit"):
        run_to_end(run_probe(_config(select_pooling=True)))
    assert asked == [(16, 300), (64, 300), (144, 300)]  # 240 training + 60 validation images, every candidate


def test_the_command_says_so_and_exits_2(tmp_path, monkeypatch):
    monkeypatch.setattr(memory, "available", lambda device: 4096)
    r = run_cli("probe", "--backbone", "rdsn", "--options", "k=16", "blocks=1", "--dataset", "digits",
                "--train-limit", "300", "--test-limit", "120", "--pooling", "grid2", home=tmp_path)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "needs at least" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.gui
def test_the_probe_workspace_shows_the_refusal_and_keeps_working(qtbot, fe_home, tmp_path, monkeypatch):
    """In the desktop app the run is refused with the same message in the workspace's banner (no window killed by
    the system); nothing is stored; with the memory back, the same click runs."""
    from PySide6.QtCore import Qt

    from tests.test_probe_gui import choose_dataset, click_check, set_subset, uncheck_all

    from app.session import Session
    from PySide6.QtCore import QSettings
    from widgets.application import make_app
    from widgets.probe.workspace import ProbeWorkspace

    make_app()
    ws = ProbeWorkspace(Session(), QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(ws)
    ws.resize(1400, 860)
    ws.show()
    try:
        uncheck_all(qtbot, ws)
        click_check(qtbot, ws, "simple (random)")
        choose_dataset(ws, "digits")
        set_subset(ws, 300)
        monkeypatch.setattr(memory, "available", lambda device: 4096)
        with qtbot.waitSignal(ws.batchDone, timeout=60_000):
            qtbot.mouseClick(ws.train_btn, Qt.MouseButton.LeftButton)
        assert ws.banner.isVisible()
        assert "needs at least" in ws.banner.text() and "available now" in ws.banner.text()
        assert ws.history_table.table.rowCount() == 0 and ws.train_btn.isEnabled()
        monkeypatch.setattr(memory, "available", lambda device: 4 * GIB)
        with qtbot.waitSignal(ws.batchDone, timeout=60_000):
            qtbot.mouseClick(ws.train_btn, Qt.MouseButton.LeftButton)
        assert not ws.banner.isVisible() and ws.history_table.table.rowCount() == 1
    finally:
        ws.shutdown()
