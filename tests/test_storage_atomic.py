"""``app.storage.atomic_write`` / ``atomic_path``, the one atomic write (banks, checkpoints, sidecars, reports):
through a symbolic link the link's target gets the new content and the link stays a link (it was replaced by a
regular file, the target keeping the old content); an existing file keeps its permission bits (a private 0600 file
became 0644 at each save)."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from app.storage import atomic_path, atomic_write


def test_a_write_through_a_link_updates_its_target_and_keeps_the_link(tmp_path):
    real = tmp_path / "real.json"
    atomic_write(real, "old")
    link = tmp_path / "link.json"
    link.symlink_to("real.json")  # relative, as `ln -s` makes it
    atomic_write(link, "new")
    assert link.is_symlink() and real.read_text() == "new" and link.read_text() == "new"
    chain = tmp_path / "chain.json"
    chain.symlink_to(link)  # a link to a link: followed to its end
    with atomic_path(chain) as tmp, open(tmp, "wb") as f:
        np.save(f, np.arange(3))
    assert chain.is_symlink() and link.is_symlink()
    with open(real, "rb") as f:
        assert np.load(f).tolist() == [0, 1, 2]
    dangling = tmp_path / "dangling.json"
    dangling.symlink_to("made.json")
    atomic_write(dangling, "made")  # a dangling link: its target is created
    assert dangling.is_symlink() and (tmp_path / "made.json").read_text() == "made"
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_an_existing_files_permissions_are_kept_and_a_new_file_gets_the_default(tmp_path):
    private = tmp_path / "private.json"
    atomic_write(private, "a")
    os.chmod(private, 0o600)
    atomic_write(private, "b")
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o600 and private.read_text() == "b"
    old = os.umask(0o022)
    try:
        fresh = atomic_write(tmp_path / "fresh.json", "x")
        assert stat.S_IMODE(os.stat(fresh).st_mode) == 0o644
    finally:
        os.umask(old)


def test_a_failed_write_through_a_link_leaves_the_target_as_it_was(tmp_path):
    real = tmp_path / "real.json"
    atomic_write(real, "old")
    (tmp_path / "link.json").symlink_to(real)
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "link.json") as tmp:
            tmp.write_text("half")
            raise RuntimeError("the writer failed")
    assert real.read_text() == "old" and (tmp_path / "link.json").is_symlink()
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
