"""``bench extract --authors``: Xue & Roshan's published network timed beside ours at equal settings (issue 13), and
rdsn's ``stem_padding`` that makes the settings equal.

Their code is not shipped here; the tests write a stand-in ``random_hp.py`` with the published interface (``Rh(
num_layers, kernel_size, n)``, attributes ``conv`` and ``conv2[i].conv / .conv2``) and the published architecture
(stem padded by 1, then [2x2 average pool, depthwise conv, sign, depthwise conv, sign] blocks, global average), so
that the harness's copying of our weights and its feature check are tested against a known answer.
"""

from __future__ import annotations

import json
import subprocess
import sys
from argparse import Namespace
from pathlib import Path

import numpy as np
import pytest
import torch

from app.errors import UserError

ROOT = Path(__file__).resolve().parent.parent

STAND_IN = '''
import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, n, k):
        super().__init__()
        self.conv = nn.Conv2d(n, n, k, groups=n, padding=(k - 1) // 2)
        self.conv2 = nn.Conv2d(n, n, k, groups=n, padding=(k - 1) // 2)

    def forward(self, x):
        x = F.avg_pool2d(x, 2)
        return self.conv2(self.conv(x).sign_()).sign_()


class Rh(nn.Module):
    def __init__(self, num_layers=3, kernel_size=3, n=1000):
        super().__init__()
        self.conv = nn.Conv2d(IN_CHANNELS, n, kernel_size, padding=STEM_PAD)
        self.conv2 = nn.Sequential(*[Block(n, kernel_size) for _ in range(num_layers)])

    def forward(self, x):
        out = self.conv2(self.conv(x).sign_())
        return F.avg_pool2d(out, out.size()[3]).view(out.size(0), -1)
'''

EQUAL = {"k": 16, "blocks": 1, "stem_kernel": 5, "kernel_size": 5, "stem_padding": 1}


def _stand_in_text(stem_pad: int, in_channels: int) -> str:
    return STAND_IN.replace("STEM_PAD", str(stem_pad)).replace("IN_CHANNELS", str(in_channels))


def _stand_in(tmp_path: Path, stem_pad: int = 1, in_channels: int = 1) -> str:
    p = tmp_path / f"random_hp_{stem_pad}_{in_channels}.py"
    p.write_text(_stand_in_text(stem_pad, in_channels))
    return str(p)


def _args(**kw):
    base = dict(quick=True, dataset=None, data_root=None, backbone="rdsn", options=json.dumps(EQUAL), layer=1,
                pooling="gap", images=10000, rounds=1, timeout=300, seed=0, json=True, authors=None)
    base.update(kw)
    return Namespace(**base)


def test_stem_padding_sets_the_map_size_and_is_checked():
    from app.models.rdsn import RDSN

    x = torch.randn(2, 1, 28, 28)
    same = RDSN(in_channels=1, k=4, blocks=0, stem_kernel=5)
    one = RDSN(in_channels=1, k=4, blocks=0, stem_kernel=5, stem_padding=1)
    assert same.forward_intermediates(x, [0])[0].shape[-2:] == (28, 28)
    assert one.forward_intermediates(x, [0])[0].shape[-2:] == (26, 26)  # 28 + 2 - 5 + 1
    for bad in (-1, 5):
        with pytest.raises(ValueError, match="stem_padding must be 0..4"):
            RDSN(in_channels=1, k=4, stem_kernel=5, stem_padding=bad)


def test_stem_padding_is_a_listed_option():
    from app.models.registry import option_fields

    fields = {f.name: f for f in option_fields("rdsn")}
    assert "stem_padding" in fields and "pads 1" in fields["stem_padding"].tooltip


def test_authors_side_matches_ours_with_our_weights(tmp_path):
    """The stand-in with the published architecture computes our features exactly (after the weight copy); one with
    the stem padded by 2 does not: the check can fail."""
    from app.probe.bench_extract import authors_features, authors_model, prepare, settings_from_args

    settings = settings_from_args(_args(authors=_stand_in(tmp_path)))
    model, images, ispec, layer, dev = prepare(settings, fit=False)
    from app.models.inputs import to_tensor

    x = to_tensor(images[:40], ispec, dev)
    ours = model.extract_pooled(x, layer=layer).numpy()
    theirs = authors_features(authors_model(settings["authors"], model, 0), x, batch=16)
    np.testing.assert_allclose(theirs, ours, rtol=0, atol=1e-6)
    other = authors_features(authors_model(_stand_in(tmp_path, stem_pad=2), model, 0), x, batch=16)
    assert other.shape == ours.shape and np.abs(other - ours).max() > 0.01


@pytest.mark.parametrize("kw, words", [
    (dict(options=json.dumps({**EQUAL, "stem_padding": 2})), '"stem_padding": 1'),
    (dict(options=json.dumps({**EQUAL, "kernel_size": 3})), '"kernel_size": 5'),
    (dict(pooling="grid2"), "--pooling gap"),
    (dict(layer=0), "--layer 1"),
    (dict(options=json.dumps({**EQUAL, "activation": "relu"})), '"activation": "sign"'),
])
def test_settings_their_network_cannot_compute_are_user_errors(tmp_path, kw, words):
    from app.probe.bench_extract import check_authors_settings, prepare, settings_from_args

    settings = settings_from_args(_args(authors=_stand_in(tmp_path), **kw))
    model, _, _, layer, _ = prepare(settings, fit=False)
    with pytest.raises(UserError, match="their network computes only") as e:
        check_authors_settings(settings, model, layer)
    assert words in str(e.value)


def test_missing_or_wrong_authors_file_is_a_user_error(tmp_path):
    from app.probe.bench_extract import authors_model, prepare, settings_from_args

    with pytest.raises(UserError, match="--authors-batch must be at least 1, got 0"):
        settings_from_args(_args(authors=_stand_in(tmp_path), authors_batch=0))

    with pytest.raises(UserError, match="no such file"):
        settings_from_args(_args(authors=str(tmp_path / "nope.py")))
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('their import failed')\n")
    settings = settings_from_args(_args(authors=str(broken)))
    model = prepare(settings, fit=False)[0]
    with pytest.raises(UserError, match="cannot build its Rh: RuntimeError: their import failed"):
        authors_model(str(broken), model, 0)
    with pytest.raises(UserError, match="its stem takes 3 input channel"):
        authors_model(_stand_in(tmp_path, in_channels=3), model, 0)
    other = tmp_path / "other.py"  # an Rh of another structure: named, not a traceback
    other.write_text(_stand_in_text(1, 1).replace("self.conv2 = nn.Sequential", "self.blocks = nn.Sequential"))
    with pytest.raises(UserError, match="is not the published network"):
        authors_model(str(other), model, 0)


def test_bench_extract_with_authors_cli_json(tmp_path):
    env = {"FILTER_EXPLORER_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    # the refusal below runs beside the benchmark (it mostly waits on its imports)
    (tmp_path / "other").mkdir()
    refusal = subprocess.Popen([sys.executable, "main.py", "bench", "extract", "--quick", "--authors",
                                _stand_in(tmp_path / "other")], cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True,
                               env={**env, "FILTER_EXPLORER_HOME": str(tmp_path / "h2")})
    r = subprocess.run([sys.executable, "main.py", "--threads", "1", "bench", "extract", "--quick", "--rounds", "1",
                        "--options", json.dumps(EQUAL), "--layer", "1", "--pooling", "gap",
                        "--authors", _stand_in(tmp_path), "--json"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["authors_img_s"] > 0 and out["authors_features_match"] and out["features_match"]
    assert out["ratio_vs_authors"] == pytest.approx(out["ours_img_s"] / out["authors_img_s"], rel=1e-3)
    assert [x["kind"] for x in out["rounds"]] == ["ours", "bare", "authors"]
    assert out["rounds"][2]["batch"] == 8 == out["settings"]["authors_batch"]  # their run_job.sh's batch size
    assert "Xue & Roshan" in out["settings"]["authors"]
    _, err = refusal.communicate(timeout=120)
    assert refusal.returncode == 2 and "their network computes only" in err


def test_an_authors_file_it_cannot_build_is_refused_before_any_round(tmp_path, monkeypatch):
    """The file was loaded only inside the measurement child, after every ours and bare round ran; the user then saw
    `error: ...` and five lines of the child's traceback."""
    from app.probe import bench_extract

    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('their import failed')\n")
    started = []
    monkeypatch.setattr(bench_extract, "run_child", lambda kind, settings, timeout: started.append(kind))
    with pytest.raises(UserError, match="cannot build its Rh: RuntimeError: their import failed"):
        bench_extract.bench_extract(_args(authors=str(broken)))
    assert started == []


def test_a_failing_measurement_child_prints_the_message_alone(monkeypatch, capsys):
    import io

    from app.probe import bench_extract

    def refuse(kind, settings):
        raise UserError("bench extract --authors x.py: cannot build its Rh: RuntimeError: boom")

    import os

    # child_main sets both for its own process: restored after the test
    monkeypatch.setenv("FILTER_EXPLORER_HOME", os.environ.get("FILTER_EXPLORER_HOME", ""))
    monkeypatch.setenv("FILTER_EXPLORER_THREADS", os.environ.get("FILTER_EXPLORER_THREADS", "1"))
    monkeypatch.setattr(bench_extract, "measure", refuse)
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps({"kind": "authors", "settings": {"threads": 1}})))
    with pytest.raises(SystemExit) as exc:
        bench_extract.child_main()
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.strip() == "bench extract --authors x.py: cannot build its Rh: RuntimeError: boom"
