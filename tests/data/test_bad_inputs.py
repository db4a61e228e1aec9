"""Messy real folders: every bad file is refused with a one-line reason, every odd valid one loads
right, and no input crashes the split stage, the CLI or the web app, or loses an earlier run's work."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
import pytest
from corpus import (
    EMPTY_CLASS,
    EPS,
    GOOD_CLASSES,
    PLUM,
    UNREADABLE_CLASS,
    Expectation,
    corpus_files,
    encode,
    make_class,
    make_corpus,
    make_single_class,
    noise,
    uniform_png,
)
from PIL import EpsImagePlugin
from project import ROOT, load_stage, write_params

import emotion_pipeline
from emotion_pipeline.data import shedding
from emotion_pipeline.data.folders import find_images, is_hidden
from emotion_pipeline.data.images import ImageError, load_image
from emotion_pipeline.data.splitting import MIN_PER_CLASS, SPLITS

if TYPE_CHECKING:  # importing it loads TensorFlow: only the CLI and web tests pay for it
    from emotion_pipeline.serving.predict import Classifier

SIZE = 32
FILES = corpus_files()
OUTPUTS = (*(f"{name}.csv" for name in SPLITS), "skipped.csv", "counts.json")
PARAMS = {"seed": 7, "data.test_fraction": 0.1, "data.val_fraction": 0.2}


@dataclass
class Run:
    """One in-process run of the split stage."""

    status: int
    out: str
    err: list[str]


@pytest.fixture(scope="module")
def split_stage() -> ModuleType:
    """`stages/split.py`, imported from its file: stages are scripts, not a package."""
    return load_stage("split")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Expectation]]:
    root = tmp_path_factory.mktemp("corpus") / "data"
    return root, make_corpus(root)


def run_split(stage: ModuleType, data_dir: Path, out_dir: Path) -> Run:
    """Run the stage as DVC would, with a params file next to the data, capturing its output."""
    params = write_params(data_dir.parent / "params.yaml", PARAMS)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        argv = ["--params", str(params), "--data-dir", str(data_dir), "--out-dir", str(out_dir)]
        status = stage.main(argv)
    return Run(status, out.getvalue(), err.getvalue().splitlines())


def read_rows(path: Path) -> list[dict[str, str]]:
    """The rows of one CSV output of the split stage."""
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file in `folder` (temporary ones included) and its bytes."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def region(array: np.ndarray, name: str) -> np.ndarray:
    """The pixels of a named part of the image (see `Expectation`), one row per pixel."""
    quarter = array.shape[0] // 4
    parts = {
        "all": array,
        "top": array[:quarter],
        "bottom": array[-quarter:],
        "left": array[:, :quarter],
        "right": array[:, -quarter:],
    }
    return parts[name].reshape(-1, 3).astype(int)


@pytest.fixture(scope="module")
def corpus_split(
    split_stage: ModuleType,
    corpus: tuple[Path, dict[str, Expectation]],
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Run, Path]:
    out = tmp_path_factory.mktemp("split")
    return run_split(split_stage, corpus[0], out), out


@pytest.mark.parametrize("relative", FILES)
def test_load_image_on_every_corpus_file(corpus: tuple[Path, dict[str, Expectation]], relative: str) -> None:
    root, expected = corpus
    expectation = expected[relative]
    if expectation.load_error:
        with pytest.raises(ImageError) as caught:
            load_image(root / relative, SIZE)
        reason = str(caught.value)
        assert expectation.load_error in reason
        assert reason == " ".join(reason.split()) and len(reason) <= 200  # one short line
        return
    array = load_image(root / relative, SIZE)
    assert array.shape == (SIZE, SIZE, 3) and array.dtype == np.uint8
    for name, colour in expectation.regions.items():
        worst = np.abs(region(array, name) - colour).max()
        assert worst <= expectation.tolerance, f"{name} is not {colour}: off by {worst}"


def test_bytes_and_paths_load_alike(corpus: tuple[Path, dict[str, Expectation]]) -> None:
    root, _ = corpus
    for relative in ("happy/rotated.jpg", "happy/palette.png", "happy/animated.gif"):
        assert np.array_equal(load_image(root / relative, SIZE), load_image(FILES[relative][0], SIZE))
        assert np.array_equal(load_image(str(root / relative), SIZE), load_image(root / relative, SIZE))


@pytest.mark.parametrize(
    ("data", "fmt"), [(EPS, "EPS"), (encode(noise(2), "TIFF"), "TIFF")], ids=["eps", "tiff"]
)
def test_other_formats_are_refused_unparsed(monkeypatch: pytest.MonkeyPatch, data: bytes, fmt: str) -> None:
    """Only the listed formats reach a Pillow parser: an EPS never gets to Ghostscript."""
    calls = []
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", lambda *args, **kwargs: calls.append(args))
    with pytest.raises(ImageError) as caught:
        load_image(data, SIZE)
    assert str(caught.value).startswith(f"unsupported kind of image: {fmt} (accepted: JPEG, PNG, ")
    assert calls == []


# Run alone, so the high-water mark of its memory is the decode's own and nothing else's.
MEASURE_DECODE = """
import json, resource, sys
from corpus import uniform_png
from emotion_pipeline.data.images import load_image
data = uniform_png(10_000, 10_000, 16)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
array = load_image(data, 32)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"growth": (after - before) * 1024, "max": int(array.max()), "shape": array.shape}))
"""


@pytest.mark.slow
def test_16_bit_scan_decodes_in_bounded_memory() -> None:
    """10,000 x 10,000 16-bit greyscale in 194 KB: 191 MiB as decoded, and nothing near that more.

    A float64 copy of the whole image, as the loader once made, costs 763 MiB more on its own.
    """
    tests, package = ROOT / "tests", Path(emotion_pipeline.__file__).parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(package), str(tests)])}
    done = subprocess.run(
        [sys.executable, "-c", MEASURE_DECODE], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    measured = json.loads(done.stdout)
    assert measured["shape"] == [32, 32, 3] and measured["max"] == 0  # black stays black
    decoded = 10_000 * 10_000 * 2
    assert measured["growth"] < decoded + 64 * 2**20, f"{measured['growth'] / 2**20:.0f} MiB"


def test_without_a_deadline_a_large_decode_waits_its_turn() -> None:
    """Training and the CLI pass no deadline: a large image waits for the large-decode turn, never
    refused as the web app's would be."""
    large = uniform_png(4_000, 4_000, palette=PLUM)  # as RGB too: 76 MiB, over LARGE_BYTES
    result: list[np.ndarray] = []
    with shedding.large_decode_turn():
        waiting = threading.Thread(target=lambda: result.append(load_image(large, SIZE)))
        waiting.start()
        waiting.join(timeout=0.5)
        assert waiting.is_alive() and not result
    waiting.join(timeout=120)
    assert len(result) == 1 and np.abs(region(result[0], "all") - PLUM).max() == 0


def test_find_images_accounts_for_every_file(corpus: tuple[Path, dict[str, Expectation]]) -> None:
    root, expected = corpus
    candidates, ignored = find_images(root)
    tried = {c.path.relative_to(root).as_posix(): c.label for c in candidates}
    reasons = {path.relative_to(root).as_posix(): reason for path, reason in ignored}
    assert len(tried) + len(reasons) == len(candidates) + len(ignored) == len(expected)
    assert set(tried) | set(reasons) == set(expected)
    assert tried == {rel: rel.split("/")[0] for rel, e in expected.items() if not e.ignored}
    assert all(expected[rel].ignored in reason for rel, reason in reasons.items())


def test_split_puts_every_file_in_a_split_or_skipped_with_its_reason(
    corpus: tuple[Path, dict[str, Expectation]], corpus_split: tuple[Run, Path]
) -> None:
    (root, expected), (run, out) = corpus, corpus_split
    assert run.status == 0, run.err
    split_rows = [row for name in SPLITS for row in read_rows(out / f"{name}.csv")]
    skipped_rows = read_rows(out / "skipped.csv")
    in_split = [Path(row["path"]).relative_to(root).as_posix() for row in split_rows]
    skipped = {Path(row["path"]).relative_to(root).as_posix(): row["reason"] for row in skipped_rows}
    assert len(set(in_split)) == len(in_split) and len(skipped) == len(skipped_rows)  # no file twice
    assert sorted(in_split) == sorted(rel for rel, e in expected.items() if e.used)
    assert set(skipped) == {rel for rel, e in expected.items() if not e.used}
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert on_disk == set(in_split) | set(skipped)
    for rel, reason in skipped.items():
        assert expected[rel].reason in reason, rel
        assert reason and "\n" not in reason
    assert all(row["label"] == Path(row["path"]).relative_to(root).parts[0] for row in split_rows)


def test_split_reports_and_ignores_class_folders_without_images(corpus_split: tuple[Run, Path]) -> None:
    run, out = corpus_split
    folders = f"{UNREADABLE_CLASS} (1 file(s), none readable), {EMPTY_CLASS} (empty)"
    assert [line for line in run.err if "ignoring" in line] == [
        f"split: ignoring class folders without a usable image: {folders}"
    ]
    assert {row["label"] for row in read_rows(out / "train.csv")} == set(GOOD_CLASSES)
    assert "Traceback" not in run.out + "\n".join(run.err)


def test_split_is_deterministic(
    split_stage: ModuleType,
    corpus: tuple[Path, dict[str, Expectation]],
    corpus_split: tuple[Run, Path],
    tmp_path: Path,
) -> None:
    run = run_split(split_stage, corpus[0], tmp_path / "again")
    assert run.status == 0
    assert snapshot(tmp_path / "again") == snapshot(corpus_split[1])


def test_class_with_two_images_fails_with_one_line_naming_it(split_stage: ModuleType, tmp_path: Path) -> None:
    data = tmp_path / "data"
    for label in GOOD_CLASSES:
        make_class(data, label, MIN_PER_CLASS + 1)
    make_class(data, "fear", 2)
    run = run_split(split_stage, data, tmp_path / "out")
    assert run.status != 0
    errors = [line for line in run.err if line.startswith("error:")]
    assert len(errors) == 1 and "fear" in errors[0] and "'fear': 2" in errors[0]
    assert "happy" in errors[0] and str(MIN_PER_CLASS) in errors[0]  # the other counts and the minimum
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("with_empty_folder", [False, True])
def test_single_class_is_one_clear_error(
    split_stage: ModuleType, tmp_path: Path, with_empty_folder: bool
) -> None:
    data = tmp_path / "data"
    make_single_class(data)
    if with_empty_folder:
        (data / EMPTY_CLASS).mkdir()
    run = run_split(split_stage, data, tmp_path / "out")
    assert run.status != 0
    errors = [line for line in run.err if line.startswith("error:")]
    assert errors == ["error: need at least 2 classes to classify, found 1: {'happy': 12}"]
    assert "Traceback" not in "\n".join(run.err)


def test_failed_split_leaves_the_previous_outputs_untouched(split_stage: ModuleType, tmp_path: Path) -> None:
    data, out = tmp_path / "data", tmp_path / "out"
    for label in GOOD_CLASSES:
        make_class(data, label, 8)
    assert run_split(split_stage, data, out).status == 0
    before = snapshot(out)
    assert set(before) == set(OUTPUTS)
    for path in (data / GOOD_CLASSES[1]).iterdir():  # now a single-class data set
        path.write_bytes(b"overwritten by a broken sync")
    run = run_split(split_stage, data, out)
    assert run.status != 0
    assert snapshot(out) == before


@pytest.mark.slow
def test_cli_predict_reports_each_bad_file_once_and_predicts_the_rest(
    capsys: pytest.CaptureFixture[str], corpus: tuple[Path, dict[str, Expectation]], model_path: Path
) -> None:
    from emotion_pipeline.serving.cli import main

    root, expected = corpus
    status = main(["predict", str(root), "--model", str(model_path), "--format", "csv"])
    out, err = capsys.readouterr()
    assert status == 1
    visible = {rel: e for rel, e in expected.items() if not is_hidden(Path(rel))}
    rows = list(csv.DictReader(io.StringIO(out)))
    assert sorted(row["path"] for row in rows) == sorted(
        str(root / rel) for rel, e in visible.items() if not e.load_error
    )
    errors = err.splitlines()
    bad = {rel: e.load_error for rel, e in visible.items() if e.load_error}
    assert len(errors) == len(bad)
    for rel, reason in bad.items():
        prefix = f"error: {root / rel}: "
        lines = [line for line in errors if line.startswith(prefix)]
        assert len(lines) == 1 and reason in lines[0], (rel, lines)
    assert "Traceback" not in out + err


@pytest.mark.slow
def test_web_answers_400_json_for_bad_files_and_200_for_good(classifier: Classifier) -> None:
    from emotion_pipeline.serving.webapp import create_app

    client = create_app(classifier).test_client()
    for relative, (data, expectation) in FILES.items():
        response = client.post(
            "/api/predict",
            data={"file": (io.BytesIO(data), Path(relative).name)},
            content_type="multipart/form-data",
        )
        assert "Traceback" not in response.get_data(as_text=True)
        answer = response.get_json()
        if expectation.load_error:
            assert response.status_code == 400, relative
            assert list(answer) == ["error"] and expectation.load_error in answer["error"], relative
        else:
            assert response.status_code == 200, (relative, answer)
            assert set(answer) == {"label", "probabilities"}
