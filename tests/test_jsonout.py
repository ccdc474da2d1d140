"""``app.jsonout``: what the commands print with --json and the exported JSON files is strict JSON (no NaN or
Infinity token, which JavaScript, jq 1.6, Go and serde refuse): a number that does not exist is null."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from app import jsonout


def _refuse(token: str):
    raise ValueError(f"not JSON: {token}")


class Record:
    def to_dict(self):
        return {"se": float("nan"), "shape": (2, 3)}


def test_non_finite_numbers_become_null_everywhere():
    obj = {"loss": math.nan, "up": math.inf, "down": -math.inf, "ok": 0.25, "n": 3, "flag": True, "name": "x",
           "nested": [{"v": (1.0, math.nan)}, {math.nan, 1}], "np": np.float32("nan"), "arr": np.array([1.5, np.inf]),
           "ints": np.arange(3), "scalar": np.int64(7), "record": Record(), "none": None}
    text = jsonout.dumps(obj, sort_keys=True)
    back = json.loads(text, parse_constant=_refuse)
    assert back["loss"] is None and back["up"] is None and back["down"] is None and back["ok"] == 0.25
    assert back["nested"][0]["v"] == [1.0, None] and sorted(back["nested"][1], key=str) == [1, None]
    assert back["np"] is None and back["arr"] == [1.5, None] and back["ints"] == [0, 1, 2] and back["scalar"] == 7
    assert back["record"] == {"se": None, "shape": [2, 3]} and back["none"] is None
    assert (back["n"], back["flag"], back["name"]) == (3, True, "x")
    assert "NaN" not in text and "Infinity" not in text
    # Python's own writer is what this replaces: it writes the bare token
    assert "NaN" in json.dumps({"loss": math.nan})


def test_what_clean_missed_is_refused_not_written():
    class Odd:  # converted by the caller's default= after clean: a NaN inside cannot slip out as a token
        pass

    with pytest.raises(ValueError, match="Out of range float"):
        jsonout.dumps({"odd": Odd()}, default=lambda o: math.nan)
