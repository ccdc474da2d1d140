"""Issue #15, case by case: which test covers each bad input, fault and wrong answer the issue lists (CLI and GUI).

``CASES`` maps every case of the issue to the tests that cover it (``file::test``); ``test_every_case_has_a_test``
checks that each named test exists, so that a renamed or deleted test shows up here. The cases that had no test
elsewhere are tested below: each is the project's own error (an ``AppError``) with a message naming the file or
option, and the command-line cases run ``main.py`` in a subprocess (exit code 2, ``error:`` line, no traceback).
"""

from __future__ import annotations

import json
import os
import re
import resource
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from app.errors import AppError
from app.kernels import io
from app.kernels.generators import generate

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
A = "tests/test_issue15_audit.py::"
D = "tests/test_data_bad_inputs.py::"
K = "tests/test_kernels_bad_inputs.py::"
G = "tests/test_gui_bad_inputs.py::"

CASES: dict[str, list[str]] = {
    # --- Wrong answers ---------------------------------------------------------------------------------------
    "feature cache keyed by content (swapped test images)": [
        "tests/test_probe_cache.py::test_swapped_test_images_do_not_hit_the_old_cache",
        "tests/test_probe_cache.py::test_content_digest_sees_images_and_labels_and_is_memoised",
        "tests/test_probe_cache.py::test_a_permuted_cache_read_is_caught"],
    "image folders named alike do not share a decoded cache": [
        "tests/test_data_cache_keys.py::"
        "test_two_folders_called_data_with_same_names_sizes_and_times_read_as_themselves",
        "tests/test_data_cache_keys.py::test_a_file_rewritten_in_place_with_its_old_size_and_mtime_is_seen",
        "tests/test_data_cache_keys.py::test_builtin_cache_two_roots_same_names_sizes_times_read_as_themselves"],
    # --- Resource bombs --------------------------------------------------------------------------------------
    "PNG 20000x20000 bounded before decoding": [
        D + "test_a_20000x20000_png_is_refused_from_its_header_before_decoding",
        D + "test_image_folder_skips_and_names_a_bomb_a_dangling_link_a_loop_and_a_non_utf8_name"],
    ".npz with a 2 GiB member": [K + "test_npz_member_declaring_2_gib_is_refused_from_the_zip_directory",
                                 A + "test_kernel_npz_with_a_2gib_member_is_refused_before_reading",
                                 A + "test_kernel_bombs_via_the_cli_under_a_memory_limit"],
    "CIFAR pickle declaring 300,000 images": [
        D + "test_cifar_pickles_cannot_declare_arrays_they_do_not_hold",
        D + "test_cifar_batches_over_the_image_limit_and_labels_of_the_wrong_type_or_size"],
    ".npy header (10^9, 3, 3)": [K + "test_npy_header_declaring_10_9_x_3_x_3_is_refused_from_the_header",
                                 A + "test_kernel_npy_declaring_a_billion_kernels_is_refused_before_allocating",
                                 A + "test_kernel_bombs_via_the_cli_under_a_memory_limit"],
    "sidecar widths [100000, 100000]": [
        "tests/test_models_robust.py::test_huge_sidecar_widths_hit_a_parameter_limit_before_allocating",
        A + "test_cli_sidecar_with_huge_widths"],
    "--pooling grid100000": ["tests/test_probe_cache.py::test_pooling_grid_is_bounded",
                             A + "test_cli_pooling_grid100000"],
    "--options '{\"k\": 1e9}'": ["tests/test_models_robust.py::test_huge_option_values_are_refused_before_allocating",
                                 A + "test_cli_huge_rdsn_k",
                                 G + "test_experiments_recipe_with_rdsn_k_1e9_fails_that_cell_with_the_limit"],
    # --- Tracebacks instead of messages ----------------------------------------------------------------------
    "kernel JSON with a 401-digit integer": [K + "test_json_with_a_401_digit_integer_or_100000_nesting_levels",
                                             A + "test_kernel_json_with_a_401_digit_integer_or_100000_levels"],
    "kernel JSON with 100,000 nesting levels": [K + "test_json_with_a_401_digit_integer_or_100000_nesting_levels",
                                                A + "test_kernel_json_with_a_401_digit_integer_or_100000_levels"],
    "kernels generate --seed -1 / -p std=abc / -p std=[1] / -p orientations=abc": [
        A + "test_kernels_generate_bad_arguments_cli", K + "test_kernels_generate_bad_arguments_are_messages",
        "tests/test_kernels.py::test_generate_rejects_bad_arguments"],
    "a text file named .pt (eval)": ["tests/test_models_robust.py::test_a_text_file_named_pt_is_not_a_keyerror"],
    "a text file named .pt (bench live --weights)": [A + "test_bench_live_with_a_text_file_as_weights"],
    "truncated or empty sidecar": ["tests/test_models_robust.py::test_damaged_sidecars_are_reported_as_such"],
    "sidecars with wrong types": ["tests/test_models_robust.py::test_damaged_sidecars_are_reported_as_such",
                                  "tests/test_models_fuzz.py::test_any_sidecar_loads_or_is_a_clear_error",
                                  "tests/test_fuzz_files.py::test_any_sidecar_json_text_loads_or_is_a_clear_error"],
    "MNIST headers whose dimensions overflow": [
        D + "test_idx_headers_that_overflow_or_exceed_the_limit_are_refused_before_reading",
        "tests/test_fuzz_files.py::test_idx_header_declaring_gigabytes_it_does_not_hold_reads_only_what_is_there",
        "tests/test_fuzz_files.py::test_idx_header_with_a_zero_and_huge_dimensions_is_a_clear_error",
        "tests/test_fuzz_files.py::test_any_idx_file_loads_or_is_a_clear_error"],
    "labels out of range (data info)": [
        D + "test_mnist_labels_out_of_range_are_an_error_naming_the_file"],
    "labels out of range (train)": [
        "tests/test_models_robust.py::test_empty_dataset_and_bad_labels_are_refused_before_training",
        A + "test_cli_train_and_probe_on_bad_labels_and_no_images"],
    "a dataset with 0 images (train, probe)": [
        D + "test_a_dataset_with_no_images_is_an_error",
        "tests/test_models_robust.py::test_empty_dataset_and_bad_labels_are_refused_before_training",
        A + "test_cli_train_and_probe_on_bad_labels_and_no_images"],
    "CIFAR labels of the wrong type or size": [
        D + "test_cifar_batches_over_the_image_limit_and_labels_of_the_wrong_type_or_size",
        "tests/test_fuzz_files.py::test_any_cifar_python_batch_loads_or_is_a_clear_error"],
    "dangling symlink / symlink loop / non-UTF-8 name in an image folder": [
        D + "test_image_folder_skips_and_names_a_bomb_a_dangling_link_a_loop_and_a_non_utf8_name"],
    "Live image folder whose first file is unreadable": [
        "tests/test_live_sources.py::test_folder_whose_first_file_is_unreadable_is_shown_with_it_skipped",
        "tests/test_live_sources.py::test_folder_with_no_readable_image_is_refused_naming_the_files"],
    "weights download --url notaurl": [D + "test_download_urls_are_checked"],
    "FILTER_EXPLORER_THREADS=abc": ["tests/test_perf_start.py::test_bad_thread_counts_and_devices_are_clear_errors",
                                    "tests/test_gui_startup_notes.py::"
                                    "test_bad_thread_setting_starts_the_window_and_says_why"],
    "weight_decay -1": ["tests/test_models_robust.py::test_bad_hyperparameters_are_refused",
                        "tests/test_models_robust.py::test_cli_weight_decay_minus_one"],
    "--threads 100000 (segfault)": ["tests/test_perf_start.py::test_bad_thread_counts_and_devices_are_clear_errors",
                                    "tests/test_perf_start.py::test_parse_threads_bounds"],
    "CameraSource(-1) (segfault)": [
        "tests/test_live_sources.py::test_bad_camera_index_is_a_source_error_before_opencv",
        "tests/test_live_sources.py::test_bad_camera_index_in_a_config_is_reported_by_the_loop"],
    # --- In the GUI: a dialog or the workspace's banner for each (tests/test_gui_bad_inputs.py) -------------------
    "GUI Kernels: open a bank JSON with a 401-digit integer / 100,000 levels, .npy (10^9,3,3), 2 GiB .npz member": [
        G + "test_kernels_open_bank_refuses_each_bad_file_in_a_dialog_and_keeps_the_bank"],
    "GUI Kernels: generator seed -1 / std=abc / std=[1] / orientations=abc (spin boxes; saved settings)": [
        G + "test_kernels_generator_cannot_take_seed_minus_one_or_text_numbers",
        G + "test_kernels_generator_saved_parameters_of_the_wrong_type_fall_back_to_the_default"],
    "GUI Kernels: the patches generator's free-text dataset (unknown, unreadable, labels out of range)": [
        G + "test_kernels_patches_with_a_bad_dataset_is_a_dialog"],
    "GUI huge PNG (pixel cap): Kernels image, Probe image folder, Live image folder": [
        G + "test_kernels_open_image_refuses_a_pixel_bomb_in_a_dialog",
        G + "test_probe_image_folder_with_a_bomb_dangling_link_loop_and_non_utf8_name_loads_naming_them",
        G + "test_live_image_folder_whose_first_file_is_unreadable_is_shown_naming_the_skipped",
        G + "test_live_image_over_the_pixel_limit_is_refused_before_decoding"],
    "GUI Models: text file named .pt, empty .pt, truncated / empty / wrong-type sidecars as weights": [
        G + "test_models_load_weights_refuses_each_bad_file_in_the_banner",
        G + "test_models_open_model_refuses_bad_files_and_sidecars_in_the_banner"],
    "GUI Probe / Live / Insight: a session model whose weights file or sidecar went bad": [
        G + "test_probe_on_a_model_whose_weights_went_bad_says_so_in_the_banner",
        G + "test_live_pane_on_a_model_whose_weights_went_bad_shows_why",
        G + "test_insight_cka_on_a_model_whose_weights_went_bad_says_why"],
    "GUI sidecar widths [100000, 100000] / widths typed 100000, 100000": [
        G + "test_models_open_model_refuses_bad_files_and_sidecars_in_the_banner",
        G + "test_models_builder_option_over_the_parameter_limit_is_refused_in_the_banner"],
    "GUI rdsn k=1e9 (Models spin box bounded; an Experiments recipe)": [
        G + "test_models_rdsn_k_cannot_be_typed_past_its_range",
        G + "test_experiments_recipe_with_rdsn_k_1e9_fails_that_cell_with_the_limit"],
    "GUI pooling grid100000 (Probe combo box; an Experiments recipe)": [
        G + "test_probe_pooling_is_a_list_that_cannot_hold_grid100000",
        G + "test_experiments_recipe_with_pooling_grid100000_is_refused"],
    "GUI bad MNIST headers, labels out of range, 0 images, CIFAR labels as a Probe data folder / Live samples": [
        G + "test_probe_data_folder_with_bad_mnist_or_cifar_copies_says_what_is_wrong",
        G + "test_live_dataset_samples_from_a_damaged_mnist_copy_say_what_is_wrong"],
    "GUI training on labels out of range / 0 images (Models, Train…)": [
        G + "test_models_train_on_bad_labels_or_no_images_fails_with_the_reason_and_saves_nothing"],
    "GUI image folder with a dangling symlink / symlink loop / non-UTF-8 name (loads, naming them)": [
        G + "test_probe_image_folder_with_a_bomb_dangling_link_loop_and_non_utf8_name_loads_naming_them"],
    "GUI Live image folder whose first file is unreadable / none readable": [
        G + "test_live_image_folder_whose_first_file_is_unreadable_is_shown_naming_the_skipped",
        G + "test_live_image_folder_with_nothing_readable_is_an_error_and_live_keeps_running"],
    "GUI weights by address (no URL field; the timm weights field takes a file)": [
        G + "test_models_timm_weights_given_as_an_address_is_not_downloaded_and_says_so"],
    "GUI camera index -1 (spin box from 0; a settings file holding -1 or text)": [
        G + "test_live_camera_index_minus_one_cannot_be_chosen"],
    # --- Consistency under kill -9 ---------------------------------------------------------------------------
    "train killed while saving: --resume verifies the set": [
        "tests/test_models_kill.py::test_killed_while_saving_is_refused",
        "tests/test_models_kill.py::test_killed_between_saves_resumes_to_the_uninterrupted_weights",
        "tests/test_models_robust.py::test_resume_refuses_an_inconsistent_checkpoint_set",
        "tests/test_models_robust.py::test_resume_after_a_kill_between_files_gives_the_uninterrupted_result",
        "tests/test_faults_train.py::test_train_killed_at_random_moments_resumes_to_the_uninterrupted_result"],
    "orphan temporaries cleaned; cache commands show and clear every cache": [
        D + "test_cache_commands_show_and_clear_every_cache_with_sizes",
        "tests/test_faults_kill.py::test_killed_bank_save_leaves_old_or_complete_file_and_no_temporary",
        "tests/test_faults_kill.py::test_killed_probe_reruns_to_the_uninterrupted_result",
        "tests/test_faults_kill.py::test_a_stale_temporary_of_a_dead_process_is_removed_by_the_next_save_of_that_file"],
    # --- The test suite itself -------------------------------------------------------------------------------
    "probe GUI Esc test without a race": ["tests/test_probe_gui.py::test_escape_cancels_and_keeps_finished_runs"],
    # --- Beyond today -----------------------------------------------------------------------------------------
    "fuzz: kernel files, sidecars, IDX/CIFAR headers, CLI arguments": [
        "tests/test_fuzz_files.py::test_any_kernel_json_loads_or_is_a_clear_error",
        "tests/test_fuzz_files.py::test_any_kernel_npy_loads_or_is_a_clear_error",
        "tests/test_fuzz_files.py::test_any_kernel_npz_loads_or_is_a_clear_error",
        "tests/test_fuzz_cli.py::test_any_argument_list_returns_or_is_a_clear_error"],
    "fault injection: probe, train, bank save killed at seeded points": [
        "tests/test_faults_kill.py::test_killed_probe_reruns_to_the_uninterrupted_result",
        "tests/test_faults_kill.py::test_killed_bank_save_leaves_old_or_complete_file_and_no_temporary",
        "tests/test_faults_train.py::test_train_killed_at_random_moments_resumes_to_the_uninterrupted_result",
        "tests/test_models_kill.py::test_killed_between_saves_resumes_to_the_uninterrupted_weights"],
}


def test_every_case_has_a_test():
    """Each case names at least one test, and each named test exists (a renamed test must be renamed here)."""
    missing = []
    for case, tests in CASES.items():
        assert tests, case
        for t in tests:
            path, name = t.split("::")
            f = ROOT / path
            if not f.is_file() or not re.search(rf"^def {re.escape(name)}\(", f.read_text(), re.M):
                missing.append(f"{case}: {t}")
    assert not missing, "\n".join(missing)


# --- helpers ----------------------------------------------------------------------------------------------
def cli(*argv: str, env: dict | None = None, mem_gb: float | None = None, timeout: int = 240):
    """Run ``main.py argv`` (optionally under an address-space limit); return (rc, stderr)."""
    def limit():
        if mem_gb:
            n = int(mem_gb * 2**30)
            resource.setrlimit(resource.RLIMIT_AS, (n, n))

    e = {**os.environ, "FILTER_EXPLORER_THREADS": "1", **(env or {})}
    r = subprocess.run([sys.executable, "main.py", *argv], cwd=ROOT, capture_output=True, text=True,
                       timeout=timeout, env=e, preexec_fn=limit)
    return r.returncode, r.stderr


def clis(*runs: tuple[str, ...], env: dict | None = None, timeout: int = 240) -> list[tuple[int, str]]:
    """Several independent ``main.py`` runs started together (each mostly waits on its imports: two cores take
    them side by side); [(rc, stderr)] in order."""
    e = {**os.environ, "FILTER_EXPLORER_THREADS": "1", **(env or {})}
    procs = [subprocess.Popen([sys.executable, "main.py", *argv], cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, env=e) for argv in runs]
    out = []
    for p in procs:
        try:
            _, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            _, err = p.communicate()
        out.append((p.returncode, err))
    return out


def refused(rc: int, err: str, *needles: str) -> None:
    assert rc == 2, (rc, err)
    assert "Traceback" not in err, err
    last = [line.split("error: ", 1)[1] for line in err.splitlines() if "error: " in line]
    assert last, err  # (a progress line without its newline may precede it)
    for n in needles:
        assert n in last[-1], (n, err)


def _npy_bytes(shape, descr="<f4") -> bytes:
    """A .npy header declaring ``shape`` followed by 64 bytes of data (a 192-byte file)."""
    hdr = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {tuple(shape)}, }}"
    hdr += " " * (117 - len(hdr)) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode() + b"\0" * 64


def _npz_declaring(path: Path, size: int) -> Path:
    """A small .npz whose zip directory declares a ``weights.npy`` of ``size`` bytes (data never written)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("weights.npy", _npy_bytes((2, 1, 3, 3)))
    raw = bytearray(path.read_bytes())
    cd = raw.rfind(b"PK\x01\x02")  # the central directory entry: uncompressed size at offset 24
    raw[cd + 24:cd + 28] = struct.pack("<I", size)
    path.write_bytes(bytes(raw))
    return path


# --- kernel files -----------------------------------------------------------------------------------------
def test_kernel_json_with_a_401_digit_integer_or_100000_levels(tmp_path):
    good = json.loads(io.to_json_bytes(generate("classic", 2, 3, 1)))
    big = dict(good, shape=[1, 1, 1, 1], kernels=[[[[int("9" * 401)]]]])
    (tmp_path / "big.json").write_text(json.dumps(big))
    with pytest.raises(AppError, match=r"big.json: \"kernels\" holds a number too large for a float"):
        io.load(tmp_path / "big.json")
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(AppError, match="deep.json: nested too deeply"):
        io.load(tmp_path / "deep.json")
    deep_kernels = '{"format": "filter-explorer-bank", "version": 1, "shape": [1, 1, 1, 1], "kernels": ' + \
        "[" * 100_000 + "]" * 100_000 + "}"
    (tmp_path / "deep2.json").write_text(deep_kernels)
    with pytest.raises(AppError, match="deep2.json: .*nested too deeply"):
        io.load(tmp_path / "deep2.json")
    refused(*cli("kernels", "show", str(tmp_path / "big.json")), "big.json", "too large for a float")
    refused(*cli("kernels", "show", str(tmp_path / "deep.json")), "deep.json", "nested too deeply")


def test_kernel_npy_declaring_a_billion_kernels_is_refused_before_allocating(tmp_path):
    p = tmp_path / "huge.npy"
    p.write_bytes(_npy_bytes((10**9, 3, 3)))
    assert p.stat().st_size == 192
    with pytest.raises(AppError, match=r"huge.npy: the declared shape \(1000000000, 3, 3\) takes 33.5 GB, over the "
                                       r"limit .*nothing was allocated.*FILTER_EXPLORER_LIMITS=off"):
        io.load(p)


def test_kernel_npz_with_a_2gib_member_is_refused_before_reading(tmp_path):
    p = _npz_declaring(tmp_path / "huge.npz", 2**31)
    with pytest.raises(AppError, match=r"huge.npz: the member 'weights.npy' declares 2,147,483,648 bytes, over the "
                                       r"limit .*nothing was read"):
        io.load(p)


def test_kernel_bombs_via_the_cli_under_a_memory_limit(tmp_path):
    """Under a 2 GiB address-space limit the refusals still come as messages (nothing big is allocated first)."""
    (tmp_path / "huge.npy").write_bytes(_npy_bytes((10**9, 3, 3)))
    _npz_declaring(tmp_path / "huge.npz", 2**31)
    refused(*cli("kernels", "show", str(tmp_path / "huge.npy"), mem_gb=2), "huge.npy", "over the limit")
    refused(*cli("kernels", "show", str(tmp_path / "huge.npz"), mem_gb=2), "huge.npz", "over the limit")


@pytest.mark.parametrize("extra, needle", [
    (["--kind", "gaussian", "--seed", "-1"], "seed must be 0 or more"),
    (["--kind", "gaussian", "-p", "std=abc"], "gaussian: std must be a number (got 'abc')"),
    (["--kind", "gaussian", "-p", "std=[1]"], "gaussian: std must be a number (got [1])"),
    (["--kind", "gabor", "-p", "orientations=abc"], "gabor: orientations must be an integer (got 'abc')"),
])
def test_kernels_generate_bad_arguments_cli(tmp_path, extra, needle):
    out = tmp_path / "b.json"
    refused(*cli("kernels", "generate", "--count", "4", "--size", "5", *extra, "--out", str(out)), needle)
    assert not out.exists() and not list(tmp_path.iterdir())  # nothing written, no temporary


# --- models -----------------------------------------------------------------------------------------------
def test_bench_live_with_a_text_file_as_weights(tmp_path):
    p = tmp_path / "notes.pt"
    p.write_text("hello, these are not weights\n")
    rc, err = cli("bench", "live", "--backbone", "resnet20", "--weights", str(p), "--frames", "2")
    refused(rc, err, "notes.pt: not a PyTorch weights file")
    assert "101" not in err


def test_cli_sidecar_with_huge_widths(tmp_path):
    from app.models.build import build
    from app.models.spec import ModelSpec
    from app.models.weights import save_checkpoint

    spec = ModelSpec.make("simple", options={"in_channels": 1, "widths": [2]})
    st, js = save_checkpoint(build(spec, device="cpu"), tmp_path / "ck", spec, dataset="digits")
    side = json.loads(js.read_text())
    side["architecture"]["options"]["widths"] = [100000, 100000]
    js.write_text(json.dumps(side))
    rc, err = cli("eval", "--weights", str(st), "--dataset", "digits", mem_gb=6)
    refused(rc, err, "over the limit", "FILTER_EXPLORER_LIMITS=off")


def test_cli_pooling_grid100000():
    refused(*cli("probe", "--backbone", "simple", "--dataset", "digits", "--pooling", "grid100000"),
            "grid100000", "N = 1..16")


def test_cli_huge_rdsn_k(tmp_path):
    rc, err = cli("probe", "--backbone", "rdsn", "--options", '{"k": 1e9}', "--dataset", "digits", mem_gb=6)
    refused(rc, err, "rdsn (", "k=1000000000) would have", "over the limit of 1,000,000,000", "nothing was allocated",
            "FILTER_EXPLORER_LIMITS=off")
    assert "empty()" not in err and "argument 'size'" not in err  # torch's text no more
    rc, err = cli("train", "--backbone", "rdsn", "--options", "k=1000000000", "--dataset", "digits", "--epochs", "1",
                  "--out", str(tmp_path / "ck"), mem_gb=6)
    refused(rc, err, "rdsn (k=1000000000)", "over the limit")
    assert not list(tmp_path.iterdir())


# --- datasets through the commands --------------------------------------------------------------------------
def _mnist(root: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    import gzip

    from fixtures_data import idx_bytes

    folder = root / "MNIST" / "raw"
    folder.mkdir(parents=True, exist_ok=True)
    for prefix in ("train", "t10k"):
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images), mtime=0))
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels), mtime=0))
    return root


def test_cli_train_and_probe_on_bad_labels_and_no_images(tmp_path):
    env = {"FILTER_EXPLORER_HOME": str(tmp_path / "home")}
    bad = _mnist(tmp_path / "bad", np.zeros((3, 28, 28), np.uint8), np.array([1, 12, 200], np.uint8))
    empty = _mnist(tmp_path / "empty", np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.uint8))
    out = tmp_path / "out" / "ck"
    out.parent.mkdir()  # an --out folder must exist (tests/test_cli_outputs.py)
    (tmp_path / "folder" / "cat").mkdir(parents=True)
    runs = clis(("train", "--backbone", "simple", "--dataset", "mnist", "--data-root", str(bad), "--epochs", "1",
                 "--out", str(out)),
                ("train", "--backbone", "simple", "--dataset", "mnist", "--data-root", str(empty), "--epochs", "1",
                 "--out", str(out)),
                ("probe", "--backbone", "simple", "--dataset", "mnist", "--data-root", str(empty)),
                ("probe", "--backbone", "simple", "--dataset", f"imagefolder:{tmp_path / 'folder'}"), env=env)
    for (rc, err), needle in zip(runs, ("train-labels-idx1-ubyte: 2 label(s) outside 0..9", "holds no images",
                                        "holds no images", "no image files")):
        refused(rc, err, needle)
    assert not list((tmp_path / "out").iterdir())  # no 0.00% checkpoint
