"""What computed a result is recorded with it (``app.device.machine``): a probe run, an experiment's cells and its
report, the paired comparison of two runs, and the Probe's results header. Training on one processor does not
reproduce a figure to the last bit on another (torch picks its CPU kernels by the vector instruction set), so a
figure names its machine, and a report whose cells came from several machines says so."""

from __future__ import annotations

import json

import pytest

from app import device
from app.device import machine, machine_text, machines_differ


def test_the_cpu_model_is_read_from_cpuinfo_and_falls_back_to_the_platform(tmp_path, monkeypatch):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD  EPYC 7B13 64-Core Processor\n"
                    "processor\t: 1\nmodel name\t: AMD EPYC 7B13 64-Core Processor\n")
    monkeypatch.setattr(device, "CPUINFO", str(info))
    assert device.cpu_model() == "AMD EPYC 7B13 64-Core Processor"  # the first, its spaces made single
    info.write_text("processor\t: 0\nBogoMIPS\t: 50.00\nModel\t: Raspberry Pi 4 Model B Rev 1.4\n")
    assert device.cpu_model() == "Raspberry Pi 4 Model B Rev 1.4"
    monkeypatch.setattr(device, "CPUINFO", str(tmp_path / "absent"))
    import platform

    assert device.cpu_model() == (platform.processor().strip() or platform.machine() or "unknown CPU")


def test_machine_names_the_processor_torchs_kernels_and_versions():
    import numpy
    import torch

    m = machine()
    assert m["cpu"] == device.cpu_model() and m["cores"] == device.available_cores()
    assert m["cpu_kernels"] == torch.backends.cpu.get_cpu_capability()
    assert m["torch"] == torch.__version__ and m["numpy"] == numpy.__version__
    assert json.loads(json.dumps(m)) == m  # stored as it is
    m["cpu"] = "changed"
    assert machine()["cpu"] != "changed"  # a copy each time: no caller changes what the next one gets


def test_machine_text_and_what_two_machines_differ_in():
    a = {"cpu": "AMD EPYC", "cpu_kernels": "AVX2", "cores": 2, "system": "Linux x86_64", "torch": "2.13.0"}
    assert machine_text(a) == "AMD EPYC (AVX2 kernels), 2 cores, Linux x86_64, torch 2.13.0"
    assert machine_text({**a, "cores": 1, "cpu_kernels": None}) == "AMD EPYC, 1 core, Linux x86_64, torch 2.13.0"
    assert machine_text(None) == machine_text({}) == "-"
    b = {**a, "cpu": "Intel Xeon", "cpu_kernels": "AVX512"}
    assert machines_differ(a, b) == ["cpu", "cpu_kernels"]
    assert machines_differ(a, {**a, "cores": 16, "numpy": "9"}) == []  # core count and numpy do not change the bits
    assert machines_differ(a, None) == machines_differ({}, b) == []  # not recorded: nothing to say


def test_a_probe_run_records_its_machine_and_the_json_carries_it(capsys, fe_home):
    from app.cli import run
    from app.probe.history import History

    code = run(["--threads", "1", "probe", "--dataset", "digits", "--backbone", "simple", "--head", "ridge",
                "--train-limit", "300", "--test-limit", "100", "--json"])
    d = json.loads(capsys.readouterr().out)
    assert code == 0 and d["machine"] == machine()
    with History() as h:
        assert h.get(d["run_id"])["machine"] == machine()  # kept in the history: `history show` prints it


def _pair(ma, mb):
    from tests.test_paired import _run

    from app.probe.paired import compare_pair

    return compare_pair(_run(1, range(20), n=1000, machine=ma), _run(2, range(5, 40), n=1000, machine=mb))


def test_a_pair_from_two_machines_says_so_and_from_one_says_nothing():
    from app.probe.paired import paired_summary, paired_text

    a = {"cpu": "AMD EPYC", "cpu_kernels": "AVX2", "cores": 2, "torch": "2.13.0"}
    b = {**a, "cpu": "Intel Xeon", "cpu_kernels": "AVX512"}
    c = _pair(a, b)
    assert c.machines == ("cpu", "cpu_kernels")
    text = paired_text(c)
    assert text.endswith("The two runs were computed on different machines (cpu, cpu kernels differ: AMD EPYC (AVX2 "
                         "kernels), 2 cores, torch 2.13.0 vs Intel Xeon (AVX512 kernels), 2 cores, torch 2.13.0): part "
                         "of a difference between them can be float rounding, not the settings."), text
    assert c.to_dict()["machines_differ_in"] == ["cpu", "cpu_kernels"]
    assert paired_summary(c).endswith(": run 1 is more accurate. (computed on different machines: see the tooltip)")
    same = _pair(a, dict(a))
    assert "machines" not in paired_summary(same)
    assert same.machines == () and "machines" not in paired_text(same) and same.to_dict()["machines"] == []
    assert _pair(a, None).machines == ()  # a run stored before machines were: nothing claimed
    # the counts are the disagreements' whatever the machines
    assert (c.a_only, c.b_only) == (same.a_only, same.b_only) == (20, 5)


def _experiment(tmp_path, machines, devices=None):
    from tests.test_paired import _ablation_result

    res, cells = _ablation_result(tmp_path, lambda arm, seed: [1, 2, 3])
    for i, key in enumerate(res.results):
        res.results[key]["machine"] = machines[i % len(machines)]
        res.results[key]["device"] = (devices or ["CPU (1 thread)"])[i % len(devices or [0])]
    return res


def test_the_report_names_the_cells_machines_and_counts_them(tmp_path):
    from app.experiments.report import _differences, csv_text, markdown

    a = {"cpu": "AMD EPYC", "cpu_kernels": "AVX2", "cores": 2, "system": "Linux x86_64", "torch": "2.13.0"}
    b = {**a, "cpu": "Intel Xeon", "cpu_kernels": "AVX512", "cores": 8}
    md = markdown(_experiment(tmp_path, [a]))
    line = next(t for t in md.splitlines() if t.startswith("Machine and versions:"))
    assert line.endswith("; AMD EPYC (AVX2 kernels)."), line
    two = _experiment(tmp_path, [a, b, a])  # 4 cells: a, b, a, a
    line = next(t for t in markdown(two).splitlines() if t.startswith("Machine and versions:"))
    assert line.endswith("cells computed on 2 machines (their figures may differ in the last float bits): "
                         f"{machine_text(a)} (3 cells); {machine_text(b)} (1 cell)."), line
    assert "a 2/8-core CPU, no GPU" in _differences(two)
    assert "an 8-core CPU, no GPU" in _differences(_experiment(tmp_path, [b]))
    gpu = _experiment(tmp_path, [a], ["CUDA: NVIDIA H200"])
    assert "a GPU (NVIDIA H200)" in _differences(gpu) and "core CPU" not in _differences(gpu)
    rows = csv_text(two).splitlines()
    assert rows[0].endswith(",device,machine")
    assert rows[1].endswith(f",CPU (1 thread),\"{machine_text(a)}\"") and machine_text(b) in rows[2]


def test_a_report_of_cells_that_recorded_no_machine_says_whose_it_names(tmp_path):
    from app.experiments.report import markdown

    res = _experiment(tmp_path, [{}])
    line = next(t for t in markdown(res).splitlines() if t.startswith("Machine and versions:"))
    assert line.endswith(f"; {machine()['cpu']} ({machine()['cpu_kernels']} kernels) (this process's: the cells "
                         "recorded none)."), line


def test_a_cell_records_its_machine_and_device(tmp_path):
    from app.experiments.cell import run_cell

    out = run_cell({"kind": "probe", "key": "k", "settings": {"backbone": "simple", "dataset": "digits",
                                                               "head": "ridge", "train_limit": 200,
                                                               "test_limit": 50, "threads": 1}})
    assert out["machine"] == machine() and out["device"].startswith("CPU")


@pytest.mark.gui
def test_the_results_header_tells_where_a_run_was_computed(qtbot):
    from tests.test_history import fake_result
    from widgets.probe.model import RunView
    from widgets.probe.results import ResultsView

    view = ResultsView()
    qtbot.addWidget(view)
    d = fake_result()
    d["machine"] = {"cpu": "AMD EPYC", "cpu_kernels": "AVX2", "cores": 2, "system": "Linux x86_64",
                    "torch": "2.13.0"}
    view.show_run(RunView.from_dict(d))
    assert view.header.toolTip().endswith("\n\nComputed on: AMD EPYC (AVX2 kernels), 2 cores, Linux x86_64, "
                                          "torch 2.13.0")
    assert view.header.toolTip().startswith("95% CI: the Wilson 95% interval")
    del d["machine"]
    view.show_run(RunView.from_dict(d))
    assert view.header.toolTip().endswith("Computed on: - (recorded before runs named their machine)")
