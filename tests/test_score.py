"""`python -m parc_jax.score` end to end: a tiny real bank on a real dataset, probe files, bad input."""

import json
import pickle
import subprocess
import sys

import numpy as np
import pytest

from parc_jax import estimators, score
from parc_jax.bank import ProbeRecord, read_probe_file, write_probe_file
from parc_jax.extract import ProbeSet

TINY_BANK = """
import ml_collections
def get_config():
    c = ml_collections.ConfigDict()
    c.name = "tiny"
    c.models = [dict(name="cnn_small/random", model="cnn_small", weights="random", source_dataset="none"),
                dict(name="resnet_tiny/random", model="resnet_tiny", weights="random", source_dataset="none", seed=1)]
    return c
"""


@pytest.fixture(scope="module")
def tiny_bank(tmp_path_factory):
    root = tmp_path_factory.mktemp("bank")
    path = root / "tiny.py"
    path.write_text(TINY_BANK)
    return path, root / "data", root / "cache"


def test_score_ranks_a_tiny_bank_end_to_end_and_reuses_the_cache(tiny_bank, tmp_path, capsys):
    bank, data_dir, cache = tiny_bank
    argv = [
        "--bank",
        str(bank),
        "--dataset",
        "digits",
        "--probe-size",
        "60",
        "--data-dir",
        str(data_dir),
        "--cache-dir",
        str(cache),
        "--estimators",
        "parc,logme,leep,knn1",
        "--out",
        str(tmp_path / "r.csv"),
        "--out",
        str(tmp_path / "r.json"),
    ]
    assert score.main(argv) == 0
    printed = capsys.readouterr().out
    assert "recommended:" in printed and "cnn_small/random" in printed
    result = json.loads((tmp_path / "r.json").read_text())
    assert [m["model"] for m in result["models"]][0] == result["recommended"]
    assert result["probe_size"] == 60 and result["num_classes"] == 10
    cached = sorted(cache.rglob("*.npz"))
    assert len(cached) == 2
    # The cached probe sets are exactly what the estimators saw: score one again from its file.
    with np.load(cached[0]) as entry:
        model = json.loads(str(entry["key"]))["model"]
        recomputed = float(estimators.parc(entry["features"], entry["labels"], 10))
    scores = {m["model"]: m for m in result["models"]}
    assert scores[model]["parc"] == pytest.approx(recomputed, abs=1e-4)
    header = (tmp_path / "r.csv").read_text().splitlines()[0].split(",")
    assert header[:4] == ["model", "architecture", "source_dataset", "target_dataset"]
    # Second run: served from the cache, which is neither rewritten nor extended.
    stamps = {path: path.stat().st_mtime_ns for path in cached}
    assert score.main(argv) == 0
    assert {path: path.stat().st_mtime_ns for path in sorted(cache.rglob("*.npz"))} == stamps
    again = json.loads((tmp_path / "r.json").read_text())
    assert [m["parc"] for m in again["models"]] == [scores[m["model"]]["parc"] for m in again["models"]]


def _records(tmp_path, n=40, num_models=3):
    rng = np.random.default_rng(0)
    labels = np.arange(n) % 4
    centers = rng.normal(size=(4, 12))
    paths = []
    for m in range(num_models):  # model 0 separates the classes best
        features = (centers[labels] * (3 - m) + rng.normal(size=(n, 12))).astype(np.float32)
        probs = rng.dirichlet(np.ones(6), size=n).astype(np.float32)
        path = tmp_path / f"m{m}.npz"
        write_probe_file(path, ProbeRecord(f"model{m}", ProbeSet(features, probs, labels), source_dataset="s"))
        paths.append(path)
    return paths, labels


def test_score_precomputed_npz_probes(tmp_path, capsys):
    paths, labels = _records(tmp_path)
    assert (
        score.main(["--probes", *map(str, paths), "--estimators", "parc,hscore", "--out", str(tmp_path / "o.json")])
        == 0
    )
    result = json.loads((tmp_path / "o.json").read_text())
    expected = float(estimators.parc(read_probe_file(paths[1]).probe.features, labels, 4))
    assert {m["model"]: m["parc"] for m in result["models"]}["model1"] == pytest.approx(expected, rel=1e-6)
    assert result["recommended"] == "model0"  # the most class-separated features


def test_score_reads_parc_release_pickles(tmp_path):
    rng = np.random.default_rng(1)
    y = np.arange(30) % 3
    paths = []
    for m in range(2):
        entry = {
            "features": rng.normal(size=(30, 8)) + y[:, None] * m,
            "probs": rng.dirichlet(np.ones(5), size=30),
            "y": y,
            "source_dataset": f"src{m}",
            "target_dataset": "tgt",
            "architecture": "resnet50",
        }
        path = tmp_path / f"resnet50_src{m}_tgt.pkl"
        path.write_bytes(pickle.dumps(entry))
        paths.append(str(path))
    assert score.main(["--probes", *paths, "--out", str(tmp_path / "o.csv")]) == 0
    assert read_probe_file(paths[1]).model == "resnet50/src1"


def test_pickles_cannot_run_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"features": Evil()}))
    with pytest.raises(ValueError, match="refusing to load builtins.print"):
        read_probe_file(path)


@pytest.mark.parametrize(
    "content,message",
    [
        (b"not a zip", "not a readable probe file"),
        (None, "no such probe file"),
    ],
)
def test_bad_probe_file_is_one_line_exit_2(tmp_path, content, message):
    path = tmp_path / "bad.npz"
    if content is not None:
        path.write_bytes(content)
    run = subprocess.run(
        [sys.executable, "-m", "parc_jax.score", "--probes", str(path)], capture_output=True, text=True, timeout=600
    )  # hang guard
    assert run.returncode == 2
    assert message in run.stderr and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_bad_options_exit_2(tmp_path, capsys):
    paths, _ = _records(tmp_path, num_models=2)
    assert score.main(["--probes", *map(str, paths), "--estimators", "parc,bogus"]) == 2
    assert "unknown estimator bogus" in capsys.readouterr().err
    assert score.main(["--bank", "no_such_bank", "--dataset", "digits"]) == 2
    assert score.main(["--probes", *map(str, paths), "--out", "x.txt"]) == 2


def test_probe_files_with_different_labels_are_refused(tmp_path, capsys):
    paths, labels = _records(tmp_path, num_models=1)
    other = tmp_path / "other.npz"
    record = read_probe_file(paths[0])
    write_probe_file(
        other, ProbeRecord("other", ProbeSet(record.probe.features, record.probe.probs, labels[::-1].copy()))
    )
    assert score.main(["--probes", str(paths[0]), str(other)]) == 2
    assert "same probe set" in capsys.readouterr().err


def test_ranks_treat_float32_noise_as_ties():
    from parc_jax.bank import _ranking as ranking

    assert ranking._ranks(np.array([9.000002, 9.0, 5.0, 9.5])).tolist() == [2, 2, 4, 1]
