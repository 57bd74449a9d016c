"""The PARC paper's comparison from the release's probe pickles: `configs/benchmarks/parc_controlled.py`.

Probe pickles in the release's format are made here (random class-structured features) for two targets
of the controlled bank, with the source == target probes the release keeps as RSA/DDS references; the
oracle is the release's own table, found by name.
"""

import csv
import json
import math
import pathlib
import pickle

import numpy as np
import pytest

from parc_jax import bank, estimators, evaluation
from parc_jax.benchmark import __main__ as benchmark_cli

ROOT = pathlib.Path(__file__).resolve().parents[1]
ARCHITECTURES = ("resnet50", "resnet18", "googlenet", "alexnet")
SOURCES = ("imagenet", "nabird", "cub200")
TARGETS = {"cifar10": 10, "oxford_pets": 37}
METHODS = ("parc_f32", "rsa", "dds_f32", "split_knn1", "knn1_f32", "leep")
N = 74


def _probe(rng, labels, width, signal):
    classes = int(labels.max()) + 1
    features = rng.normal(size=(classes, width))[labels] * signal + rng.normal(size=(len(labels), width))
    probs = rng.dirichlet(np.ones(12), size=len(labels))
    return features.astype(np.float32), probs.astype(np.float32)


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    root = tmp_path_factory.mktemp("release")
    folder = root / "cache" / "probes" / "fixed_budget_500"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    written = {}
    for run in (0, 1):
        for target, classes in TARGETS.items():
            labels = np.arange(N) % classes
            for arch in ARCHITECTURES:
                for source in (*SOURCES, target):  # target == source: the reference of RSA and DDS
                    features, probs = _probe(rng, labels, 48 if arch == "alexnet" else 64, rng.uniform(0.2, 2))
                    record = {
                        "features": features,
                        "probs": probs,
                        "y": labels,
                        "architecture": arch,
                        "source_dataset": source,
                        "target_dataset": target,
                    }
                    with open(folder / f"{arch}_{source}_{target}_{run}.pkl", "wb") as handle:
                        pickle.dump(record, handle)
                    written[(run, arch, source, target)] = record
    out = root / "out"
    argv = [
        "--config",
        str(ROOT / "configs" / "benchmarks" / "parc_controlled.py"),
        "--parc-release-probes",
        str(root / "cache"),
        "--output-dir",
        str(out),
        f"--config.estimators={','.join(METHODS)}",
        "--no-progress",
    ]
    assert benchmark_cli.main(argv) == 0
    return {"out": out, "written": written}


def test_every_method_scores_each_transfer_and_references_are_the_own_target_probes(release):
    rows = list(csv.DictReader((release["out"] / "results.csv").open()))
    assert len(rows) == 2 * len(TARGETS) * len(ARCHITECTURES) * len(SOURCES)  # source == target left out
    assert evaluation.BASELINE_LEARNED_HEURISTIC in rows[0]
    written = release["written"]
    for row in rows[:: len(SOURCES) + 1]:
        run, arch, source, target = int(row["Run"]), row["Architecture"], row["Source Dataset"], row["Target Dataset"]
        record, reference = written[(run, arch, source, target)], written[(run, arch, target, target)]
        expected = {
            "rsa": estimators.rsa(record["features"], reference["features"]),
            "dds_f32": estimators.dds(record["features"], reference["features"], n_dims=32),
            "split_knn1": estimators.split_knn(record["features"], record["y"], TARGETS[target]),
            "knn1_f32": estimators.knn(record["features"], record["y"], TARGETS[target], n_dims=32),
        }
        for name, value in expected.items():
            assert float(row[name]) == pytest.approx(float(value), rel=1e-4, abs=1e-4), name


def test_summary_reports_both_protocols_for_every_method_and_the_baselines(release):
    summary = json.loads((release["out"] / "summary.json").read_text())
    for key in ("pearson", "pearson_plasticity"):
        assert set(summary[key]) >= {*METHODS, evaluation.BASELINE_LEARNED_HEURISTIC, evaluation.BASELINE_DEPTH}
        assert all(summary[key][m]["mean"] is None or math.isfinite(summary[key][m]["mean"]) for m in METHODS)


def test_reference_variants_need_a_reference(tmp_path, capsys):
    bank_file = tmp_path / "bank.py"
    bank_file.write_text(
        "import ml_collections\n\ndef get_config():\n    c = ml_collections.ConfigDict()\n"
        "    c.models = [dict(name='a', model='cnn_small', weights='random', source_dataset='x')]\n"
        "    return c\n"
    )
    argv = [
        "--config.bank",
        str(bank_file),
        "--config.targets=digits",
        "--config.estimators=rsa",
        "--oracle",
        "parc_controlled",
        "--output-dir",
        str(tmp_path / "out"),
    ]
    assert benchmark_cli.main(argv) == 2
    assert "set config.reference_model" in capsys.readouterr().err
    assert "rsa" not in bank.parse_estimators("all")
