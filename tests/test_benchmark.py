"""End-to-end tests of `python -m parc_jax.benchmark` (parc_jax.benchmark) on a tiny real bank.

The bank: four randomly initialised small CNN/ResNet models (two claim digits / mnist5k as their
source, so that the protocol must leave them out on those targets), probed on real data (scikit-
learn digits and MNIST-5k, 40-image probes, 2 runs). The oracle accuracies are a small table
written here: the test checks the protocol's bookkeeping, not the models' quality.
"""

from __future__ import annotations

import csv
import json
import math
import pathlib
import pickle
import warnings

import numpy as np
import pytest
import scipy.stats
from PIL import Image

from parc_jax import _config, bank, benchmark, estimators, evaluation, models
from parc_jax.bank import load_bank, probe_bank
from parc_jax.benchmark import __main__ as benchmark_cli
from parc_jax.benchmark import _runs

ESTIMATORS = ("parc_f32", "logme", "leep", "nce_eps", "knn1")
TARGETS = ("digits", "mnist5k")
RUNS = 2
BUDGET = 40

BANK = """
import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.name = "tiny"
    c.models = [
        dict(name="cnn_small@digits", model="cnn_small", weights="random", source_dataset="digits", seed=0),
        dict(name="cnn_small@mnist5k", model="cnn_small", weights="random", source_dataset="mnist5k", seed=1),
        dict(name="resnet_tiny@a", model="resnet_tiny", weights="random", source_dataset="none", seed=2),
        dict(name="resnet_tiny@b", model="resnet_tiny", weights="random", source_dataset="none", seed=3),
    ]
    return c
"""

ORACLE = [
    ("cnn_small@digits", "digits", "mnist5k", 81.5),
    ("cnn_small@mnist5k", "mnist5k", "digits", 90.1),
    ("resnet_tiny@a", "none", "digits", 85.0),
    ("resnet_tiny@a", "none", "mnist5k", 88.2),
    ("resnet_tiny@b", "none", "digits", 79.3),
    ("resnet_tiny@b", "none", "mnist5k", 84.0),
    # Not scored (own source) but used by the leave-target-out baseline of the other rows.
    ("cnn_small@digits", "digits", "fashion_mnist_deb", 70.0),
    ("cnn_small@mnist5k", "mnist5k", "fashion_mnist_deb", 72.0),
]


def _write_oracle(path: pathlib.Path, rows) -> pathlib.Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(evaluation.ORACLE_COLUMNS)
        writer.writerows(rows)
    return path


def _read_csv(path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _cache_files(cache: pathlib.Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file()}


def _protocol_by_hand(rows: list[dict], accuracy: dict, method: str, depths: dict | None = None) -> tuple[float, float]:
    """The PARC paper's number written out with SciPy: per (run, target) Pearson x 100 between a method's
    scores and the oracle, averaged over targets, then mean and population variance over runs; with
    `depths`, each score is first z-scored over the whole table (sample std) and depth / 50 is added."""
    scores = np.array([float(r[method]) for r in rows])
    if depths is not None:
        scores = (scores - scores.mean()) / scores.std(ddof=1) + np.array(
            [depths[r["Architecture"]] / 50 for r in rows]
        )
    per_run = []
    for run in dict.fromkeys(r["Run"] for r in rows):
        per_target = []
        for target in dict.fromkeys(r["Target Dataset"] for r in rows):
            keep = [i for i, r in enumerate(rows) if r["Run"] == run and r["Target Dataset"] == target]
            y = [accuracy[(rows[i]["Architecture"], rows[i]["Source Dataset"], target)] for i in keep]
            with warnings.catch_warnings():  # a constant column (e.g. kNN on tiny probes): NaN, as the protocol
                warnings.simplefilter("ignore", scipy.stats.ConstantInputWarning)
                per_target.append(100 * scipy.stats.pearsonr(scores[keep], y).statistic)
        per_run.append(np.mean(per_target))
    return float(np.mean(per_run)), float(np.var(per_run))


def _same(reported, expected: float) -> bool:
    """A number of summary.json (null where NaN) equals an independently computed one."""
    if reported is None or math.isnan(expected):
        return reported is None and math.isnan(expected)
    return reported == pytest.approx(expected, abs=1e-9)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("benchmark")
    (root / "bank.py").write_text(BANK)
    oracle = _write_oracle(root / "oracle.csv", ORACLE)
    config = root / "config.py"
    config.write_text(
        "from parc_jax import benchmark\n\n\n"
        "def get_config():\n"
        "    c = benchmark.default_config()\n"
        f"    c.bank = {str(root / 'bank.py')!r}\n"
        f"    c.targets = {TARGETS!r}\n"
        f"    c.estimators = {ESTIMATORS!r}\n"
        "    c.runs = 5\n"
        f"    c.oracle = {str(oracle)!r}\n"
        f"    c.cache_dir = {str(root / 'cache')!r}\n"
        f"    c.output_dir = {str(root / 'out')!r}\n"
        "    return c\n"
    )
    argv = ["--config", str(config), f"--config.runs={RUNS}", "--config.budget", str(BUDGET), "--no-progress"]
    assert benchmark_cli.main(argv) == 0
    return {
        "root": root,
        "out": root / "out",
        "oracle": oracle,
        "cache": root / "cache",
        "argv": argv,
        "bank": load_bank(str(root / "bank.py")),
    }


def test_outputs_exist_and_parse(tiny):
    out = tiny["out"]
    rows = _read_csv(out / "results.csv")
    baselines = [evaluation.BASELINE_PARAMS, evaluation.BASELINE_DEPTH, evaluation.BASELINE_OTHER_TARGETS]
    assert list(rows[0]) == [*evaluation.RESULTS_KEY, *ESTIMATORS, *baselines]
    # 2 runs x 2 targets x 3 models (each target leaves out the model trained on it).
    assert len(rows) == RUNS * len(TARGETS) * 3
    assert all(r["Source Dataset"] != r["Target Dataset"] for r in rows)
    assert {(r["Run"], r["Target Dataset"]) for r in rows} == {(str(r), t) for r in range(RUNS) for t in TARGETS}
    assert all(math.isfinite(float(r[m])) for r in rows for m in ESTIMATORS)

    summary = json.loads((out / "summary.json").read_text())
    assert summary["estimators"] == list(ESTIMATORS) and summary["baselines"] == baselines
    assert summary["setup"]["runs"] == RUNS and summary["setup"]["budget"] == BUDGET
    for name in ESTIMATORS:
        timing = summary["timing"][name]
        assert timing["calls"] == RUNS * len(TARGETS) and timing["models_scored"] == len(rows)
        assert timing["mean_ms_per_model"] > 0
    report = (out / "report.md").read_text()
    for method in [*ESTIMATORS, *baselines]:
        assert f"| {method} |" in report or f"| *{method}* |" in report
    for target in TARGETS:
        assert f"scores_vs_accuracy_{target}.png" in report
    for name in [f"scores_vs_accuracy_{t}.png" for t in TARGETS] + ["pearson.png", "time_per_estimator.png"]:
        with Image.open(out / name) as image:
            assert image.format == "PNG" and min(image.size) > 200


def test_protocol_numbers_match_an_independent_computation(tiny):
    out = tiny["out"]
    summary = json.loads((out / "summary.json").read_text())
    depths = {e.name: models.describe(e.model).depth for e in tiny["bank"]}
    rows = _read_csv(out / "results.csv")
    accuracy = {(a, s, t): acc for a, s, t, acc in ORACLE}
    for method in ESTIMATORS:
        for layers, key in ((None, "pearson"), (depths, "pearson_plasticity")):
            mean, variance = _protocol_by_hand(rows, accuracy, method, layers)
            assert _same(summary[key][method]["mean"], mean) and _same(summary[key][method]["variance"], variance)

    # Ranking metrics of one (run, target), recomputed from the CSV and the oracle with SciPy.
    one = [r for r in rows if r["Run"] == "1" and r["Target Dataset"] == "mnist5k"]
    y = np.array([accuracy[(r["Architecture"], r["Source Dataset"], "mnist5k")] for r in one])
    entry = next(e for e in summary["per_run_target"] if e["run"] == "1" and e["target"] == "mnist5k")
    assert entry["models"] == 3
    for method in ESTIMATORS:
        x = np.array([float(r[method]) for r in one])
        best = min(np.flatnonzero(x == x.max()), key=lambda i: y[i])  # ties: the pessimistic choice
        expected = {
            "kendall_tau": scipy.stats.kendalltau(x, y).statistic,
            "weighted_tau": scipy.stats.weightedtau(x, y).statistic,
            "top1_relative_accuracy": 100 * y[best] / y.max(),
            "regret_at_1": y.max() - y[best],
        }
        for name, value in expected.items():
            assert _same(entry[method][name], value), (method, name)

    # Leave-target-out baseline: resnet_tiny@a on digits = its accuracy on mnist5k (its only other target);
    # cnn_small@mnist5k on digits = mean of its fashion_mnist_deb accuracy (mnist5k is its source).
    by_key = {(r["Run"], r["Architecture"], r["Target Dataset"]): r for r in _read_csv(out / "results.csv")}
    assert float(by_key[("0", "resnet_tiny@a", "digits")][evaluation.BASELINE_OTHER_TARGETS]) == 88.2
    assert float(by_key[("0", "cnn_small@mnist5k", "digits")][evaluation.BASELINE_OTHER_TARGETS]) == 72.0
    assert float(by_key[("0", "resnet_tiny@b", "mnist5k")][evaluation.BASELINE_DEPTH]) == depths["resnet_tiny@b"]


def test_reference_model_of_a_bank_is_probed_and_compared_with(tiny, tmp_path):
    """RSA against `config.reference_model`: the entry trained on the target, probed though left out of its ranking."""
    out = tmp_path / "out"
    argv = [
        *tiny["argv"],
        "--config.estimators=rsa",
        "--config.reference_model=cnn_small@{target}",
        f"--output-dir={out}",
        "--config.plots=false",
    ]
    assert benchmark_cli.main(argv) == 0
    rows = [r for r in _read_csv(out / "results.csv") if r["Run"] == "1"]
    assert {r["Architecture"] for r in rows if r["Target Dataset"] == "digits"} == {
        "cnn_small@mnist5k",
        "resnet_tiny@a",
        "resnet_tiny@b",
    }  # the reference itself is not ranked
    for target in TARGETS:
        probed = {
            r.model: r.probe.features
            for r in probe_bank(tiny["bank"], target, budget=BUDGET, run=1, cache_dir=tiny["cache"], progress=False)
        }
        for row in (r for r in rows if r["Target Dataset"] == target):
            expected = estimators.rsa(probed[row["Architecture"]], probed[f"cnn_small@{target}"])
            assert float(row["rsa"]) == pytest.approx(float(expected), rel=1e-4, abs=1e-4)


def test_scores_are_the_estimators_on_cached_probes(tiny):
    before = _cache_files(tiny["cache"])
    entries = [e for e in tiny["bank"] if e.source_dataset != "digits"]
    records = probe_bank(entries, "digits", budget=BUDGET, run=1, cache_dir=tiny["cache"], progress=False)
    assert _cache_files(tiny["cache"]) == before  # served from the cache: nothing extracted again
    rows = {
        r["Architecture"]: r
        for r in _read_csv(tiny["out"] / "results.csv")
        if r["Run"] == "1" and r["Target Dataset"] == "digits"
    }
    for name in ("logme", "leep", "knn1"):
        estimator, options = bank.VARIANTS[name]
        kind = estimators.spec(estimator).input_kind
        for record in records:
            single = estimators.get(estimator)(getattr(record.probe, kind), record.probe.labels, 10, **options)
            # The bank is scored as one vmapped program: float32 agreement with single calls.
            assert float(rows[record.model][name]) == pytest.approx(float(single), rel=1e-4, abs=1e-6)


def test_rerun_reuses_the_probe_cache(tiny):
    before = _cache_files(tiny["cache"])
    first = (tiny["out"] / "results.csv").read_text()
    assert benchmark_cli.main(tiny["argv"]) == 0
    assert _cache_files(tiny["cache"]) == before
    rows_a = _read_csv(tiny["out"] / "results.csv")
    rows_b = list(csv.DictReader(first.splitlines()))
    assert [r["Architecture"] for r in rows_a] == [r["Architecture"] for r in rows_b]
    for a, b in zip(rows_a, rows_b):
        for m in ESTIMATORS:
            assert float(a[m]) == pytest.approx(float(b[m]), rel=1e-5, abs=1e-6)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--config.runs=0"], "config.runs=0 must be >= 1"),
        (["--config.estimators=parc_f32,bogus"], "unknown estimator bogus"),
        (["--config.nonsense=1"], "unknown config field 'nonsense'"),
        (["--config.budget=many"], "config.budget expects an integer"),
        (["--config.sampler=random"], "config.sampler='random' is not one of"),
        (["--oracle", "/nonexistent/oracle.csv"], "oracle table '/nonexistent/oracle.csv' not found"),
        (["--config.targets=digits,no_such_dataset"], "no_such_dataset"),
        (["--stray"], "unrecognised argument '--stray'"),
    ],
)
def test_bad_config_is_one_line_and_exit_2(tiny, capsys, extra, message):
    argv = [*tiny["argv"], f"--output-dir={tiny['root'] / 'bad'}", *extra]
    if "no_such_dataset" in message:  # the oracle check comes first: give it an oracle row
        oracle = _write_oracle(
            tiny["root"] / "oracle_extra.csv",
            ORACLE
            + [
                (name, source, "no_such_dataset", 50.0)
                for name, source in (
                    ("cnn_small@digits", "digits"),
                    ("cnn_small@mnist5k", "mnist5k"),
                    ("resnet_tiny@a", "none"),
                    ("resnet_tiny@b", "none"),
                )
            ],
        )
        argv += ["--oracle", str(oracle)]
    assert benchmark_cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err


def test_missing_config_file_and_bad_flag(tmp_path, capsys):
    assert benchmark_cli.main(["--config", str(tmp_path / "none.py")]) == 2
    assert (
        capsys.readouterr().err.strip() == f"error: config file {str(tmp_path / 'none.py')!r} not found; "
        "pass a Python file with get_config()"
    )
    with pytest.raises(SystemExit) as exit_info:
        benchmark_cli.main(["--config"])
    assert exit_info.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_oracle_without_a_transfer_fails_before_extraction(tiny, tmp_path, capsys):
    oracle = _write_oracle(tmp_path / "oracle.csv", ORACLE[1:])  # no cnn_small@digits -> mnist5k
    argv = [
        *tiny["argv"],
        "--oracle",
        str(oracle),
        f"--config.cache_dir={tmp_path / 'cache'}",
        f"--output-dir={tmp_path / 'out'}",
    ]
    assert benchmark_cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "no accuracy for 1 transfer(s)" in err and "cnn_small@digits" in err
    assert not (tmp_path / "cache").exists() and not (tmp_path / "out").exists()


# ---- the PARC release's probe pickles ---------------------------------------------------------

RELEASE_MODELS = [
    ("resnet18", "oxford_pets"),
    ("alexnet", "imagenet"),
    ("resnet50", "cifar10"),
    ("googlenet", "stanford_dogs"),
]


def _release_probes(tiny, root: pathlib.Path):
    """Writes the tiny bank's real probe arrays as the release's pickles (its dict format and names).

    Probe sets of target "cifar10" come from the digits probes, of "oxford_pets" from the MNIST-5k
    probes; model i of the tiny bank stands for the release's (architecture, source) i.
    """
    folder = root / "cache" / "probes" / "fixed_budget_500"
    folder.mkdir(parents=True)
    entries = [e for e in tiny["bank"] if e.source_dataset == "none"] + tiny["bank"][:2]
    written = []
    for run in range(RUNS):
        for target, dataset in (("cifar10", "digits"), ("oxford_pets", "mnist5k")):
            records = probe_bank(entries, dataset, budget=BUDGET, run=run, cache_dir=tiny["cache"], progress=False)
            for (arch, source), record in zip(RELEASE_MODELS, records):
                params = {
                    "features": record.probe.features,
                    "probs": record.probe.probs,
                    "y": record.probe.labels.astype(np.int64),
                    "source_dataset": source,
                    "target_dataset": target,
                    "architecture": arch,
                }
                with open(folder / f"{arch}_{source}_{target}_{run}.pkl", "wb") as handle:
                    pickle.dump(params, handle)
                written.append((run, arch, source, target, record))
    # A source == target probe (the release extracts them for RSA): must not be scored.
    arch, source, record = "resnet50", "cifar10", written[0][-1]
    with open(folder / f"{arch}_{source}_{source}_0.pkl", "wb") as handle:
        pickle.dump(
            {
                "features": record.probe.features,
                "probs": record.probe.probs,
                "y": record.probe.labels,
                "source_dataset": source,
                "target_dataset": source,
                "architecture": arch,
            },
            handle,
        )
    return [w for w in written if w[2] != w[3]]


def test_release_pickles_reproduce_the_release_evaluation(tiny, tmp_path):
    written = _release_probes(tiny, tmp_path)
    rng = np.random.default_rng(0)
    oracle_rows = [
        (a, s, t, float(np.round(rng.uniform(40, 90), 2)))
        for a, s in RELEASE_MODELS
        for t in ("cifar10", "oxford_pets", "cub200")
        if s != t
    ]
    oracle = _write_oracle(tmp_path / "oracle.csv", oracle_rows)
    out = tmp_path / "out"
    assert (
        benchmark_cli.main(
            [
                "--parc-release-probes",
                str(tmp_path / "cache"),
                "--oracle",
                str(oracle),
                "--output-dir",
                str(out),
                f"--config.estimators={','.join(ESTIMATORS)}",
                "--no-progress",
            ]
        )
        == 0
    )
    rows = _read_csv(out / "results.csv")
    expected_keys = {(str(run), a, s, t) for run, a, s, t, _ in written}
    assert {(r["Run"], r["Architecture"], r["Source Dataset"], r["Target Dataset"]) for r in rows} == expected_keys
    assert len(rows) == len(expected_keys)  # the source == target pickle is left out

    # Every score is the estimator on that pickle's arrays, with the release's class count.
    by_key = {(r["Run"], r["Architecture"], r["Source Dataset"], r["Target Dataset"]): r for r in rows}
    for run, arch, source, target, record in written:
        row = by_key[(str(run), arch, source, target)]
        num_classes = _runs.RELEASE_NUM_CLASSES[target]
        for name in ("parc_f32", "logme", "nce_eps"):
            estimator, options = bank.VARIANTS[name]
            kind = estimators.spec(estimator).input_kind
            single = estimators.get(estimator)(getattr(record.probe, kind), record.probe.labels, num_classes, **options)
            tolerance = 0.05 if name.startswith("parc") else 1e-6  # PARC: float32 PCA, as the goldens
            assert float(row[name]) == pytest.approx(float(single), rel=1e-4, abs=tolerance)
        assert float(row[evaluation.BASELINE_DEPTH]) == evaluation.RELEASE_MODEL_LAYERS[arch]

    summary = json.loads((out / "summary.json").read_text())
    assert summary["setup"]["mode"] == "parc_release" and summary["setup"]["runs"] == RUNS
    accuracy = {(a, s, t): acc for a, s, t, acc in oracle_rows}
    for method in ESTIMATORS:
        for layers, key in ((None, "pearson"), (evaluation.RELEASE_MODEL_LAYERS, "pearson_plasticity")):
            mean, variance = _protocol_by_hand(rows, accuracy, method, layers)
            assert _same(summary[key][method]["mean"], mean) and _same(summary[key][method]["variance"], variance)
    assert (out / "report.md").is_file() and (out / "scores_vs_accuracy_cifar10.png").is_file()


def test_release_probe_errors(tmp_path):
    with pytest.raises(ValueError, match="no .pkl probe files"):
        benchmark.find_release_probes(tmp_path)
    (tmp_path / "resnet18_cifar10_cub200.pkl").write_bytes(pickle.dumps({"y": np.zeros(3)}))
    with pytest.raises(ValueError, match=r"does not end in _<run>"):
        benchmark.find_release_probes(tmp_path)
    with pytest.raises(ValueError, match="is not a directory"):
        benchmark.find_release_probes(tmp_path / "missing")


# ---- small pieces ------------------------------------------------------------------------------


def test_overrides_follow_the_default_types():
    config = _config.apply_overrides(
        benchmark.default_config(),
        {"runs": "3", "targets": "digits, mnist5k", "plots": "false", "estimators": "('logme', 'knn1')"},
    )
    assert config.runs == 3 and config.targets == ("digits", "mnist5k") and config.plots is False
    assert config.estimators == ("logme", "knn1")
    with pytest.raises(ValueError, match="config.runs expects an integer"):
        _config.apply_overrides(config, {"runs": "2.5"})
    with pytest.raises(ValueError, match="config.plots expects true or false"):
        _config.apply_overrides(config, {"plots": "maybe"})


def test_leave_target_out_accuracy():
    oracle = {("m", "s", "a"): 80.0, ("m", "s", "b"): 60.0, ("m", "s", "c"): 0.0, ("n", "s", "a"): 10.0}
    assert evaluation.leave_target_out_accuracy(oracle, "m", "s", "a") == 60.0  # c (0: not trained) ignored
    assert evaluation.leave_target_out_accuracy(oracle, "m", "s", "z") == 70.0
    assert math.isnan(evaluation.leave_target_out_accuracy(oracle, "n", "s", "a"))


def test_evaluate_without_depths_skips_plasticity(tmp_path):
    results = [
        {
            "Run": run,
            "Architecture": arch,
            "Source Dataset": "src",
            "Target Dataset": "tgt",
            "good": acc + noise,
            "anti": -acc,
        }
        for run, noise in ((0, 0.0), (1, 0.5))
        for arch, acc in (("a", 70.0), ("b", 80.0), ("c", 75.0))
    ]
    benchmark.write_results_csv(tmp_path / "results.csv", results, ["good", "anti"])
    oracle = _write_oracle(
        tmp_path / "oracle.csv", [(a, "src", "tgt", acc) for a, acc in (("a", 70.0), ("b", 80.0), ("c", 75.0))]
    )
    out = evaluation.evaluate(tmp_path / "results.csv", oracle, layers={"a": 1, "b": 2})  # no depth for c
    assert out["pearson_plasticity"] is None
    assert out["pearson"]["good"]["mean"] == pytest.approx(100.0)
    assert out["pearson"]["anti"]["mean"] == pytest.approx(-100.0)
    assert out["summary"]["good"]["kendall_tau"]["mean"] == pytest.approx(1.0)
    assert out["summary"]["anti"]["regret_at_1"]["mean"] == pytest.approx(10.0)  # picks a (70) instead of b (80)
    assert out["summary"]["anti"]["top1_relative_accuracy"]["mean"] == pytest.approx(100 * 70 / 80)
    with_depths = evaluation.evaluate(tmp_path / "results.csv", oracle, layers={"a": 1, "b": 2, "c": 3})
    assert with_depths["pearson_plasticity"] == evaluation.parc_protocol(
        tmp_path / "results.csv", oracle, plasticity=True, layers={"a": 1, "b": 2, "c": 3}
    )
