"""The preloader loads OpenCV's extension library before anything imports cv2, through a foreign ``dlopen`` call
(the GIL released: on a cold start Python's import held it 100 ms while the library was read), and ``import cv2``
then finds it loaded (``widgets.startup._load_opencv_library``; docs/benchmarks/startup.md, session 16)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

CODE = """
import sys
from widgets.startup import _load_opencv_library

def mapped():
    with open("/proc/self/maps") as f:
        return any("cv2" in line and line.rstrip().endswith(".so") for line in f)

before = mapped()
_load_opencv_library()
after = mapped()
loaded_module = "cv2" in sys.modules
import cv2
import numpy as np
print(before, after, loaded_module, cv2.resize(np.zeros((4, 6), np.uint8), (3, 2)).shape)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the preload is for Linux (/proc/self/maps)")
def test_opencv_library_is_loaded_before_the_import_and_the_import_uses_it():
    out = subprocess.run([sys.executable, "-c", CODE], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True", "False", "(2,", "3)"], out.stdout
