"""The history-aware ranker: synthetic worlds with a known answer, leakage, published numbers, command lines."""

from __future__ import annotations

import csv
import json
import math
import pickle

import numpy as np
import pytest

from parc_jax import evaluation, score
from parc_jax.bank import ProbeRecord, write_probe_file
from parc_jax.benchmark import __main__ as benchmark_cli
from parc_jax.benchmark import default_config, validate_config
from parc_jax.evaluation import History
from parc_jax.extract import ProbeSet

M, T = 16, 12
MODELS = tuple((f"m{i}", "src") for i in range(M))
TARGETS = tuple(f"t{j}" for j in range(T))


def _world(prior: float, probe: float, *, noise: float = 0.3, seed: int = 0):
    """y = mu_t + prior * b_m + probe * s[m, t] + noise; returns (history, truth without noise)."""
    rng = np.random.default_rng(seed)
    mu, b, s = rng.normal(70, 8, T), rng.normal(0, 1, M), rng.normal(0, 1, (M, T))
    truth = mu + prior * b[:, None] + probe * s
    log_params = rng.uniform(6, 8, M)
    history = History(
        MODELS,
        TARGETS,
        truth + noise * rng.normal(size=(M, T)),
        probes={"probe": s},
        metadata={evaluation.METADATA_PARAMS: log_params},
    )
    return history, truth


def _kendall_to(predictions: dict, truth: np.ndarray) -> float:
    """Mean over targets of Kendall's tau between the predictions and the noise-free truth."""
    taus = []
    for target, by_model in predictions.items():
        j = TARGETS.index(target)
        taus.append(evaluation.kendall_tau([by_model[m] for m in MODELS], truth[:, j]))
    return float(np.mean(taus))


# ---- synthetic worlds ------------------------------------------------------------------------------


def test_pure_prior_world_is_recovered_and_the_probe_gets_no_weight():
    history, truth = _world(prior=5.0, probe=0.0)
    assert _kendall_to(evaluation.leave_one_target_out(history), truth) > 0.95
    assert _kendall_to(evaluation.leave_one_target_out(history, probes=["probe"]), truth) > 0.95
    fitted = evaluation.fit_history(history, probes=["probe"])
    assert abs(fitted.weights[0]) < 0.1 and fitted.tau2 > 10 * fitted.sigma2


def test_pure_probe_world_is_recovered_and_the_prior_shrinks_away():
    history, truth = _world(prior=0.0, probe=3.0)
    with_probe = evaluation.leave_one_target_out(history, probes=["probe"])
    assert _kendall_to(with_probe, truth) > 0.9
    # Without the probe the past says nothing lasting: the prior shrinks the models' mean accuracies together.
    prior_only = evaluation.leave_one_target_out(history)
    for j, by_model in enumerate(prior_only.values()):
        other_means = np.delete(history.accuracy, j, axis=1).mean(axis=1)
        assert np.ptp(list(by_model.values())) < 0.5 * np.ptp(other_means)
    fitted = evaluation.fit_history(history, probes=["probe"])
    assert fitted.tau2 == 0.0 and np.ptp(fitted.prior) < 1e-9  # no lasting model effect: one level
    assert fitted.weights[0] == pytest.approx(3.0, rel=0.15)


def test_mixed_world_needs_both_halves():
    history, truth = _world(prior=3.0, probe=3.0)
    both = _kendall_to(evaluation.leave_one_target_out(history, probes=["probe"]), truth)
    prior_only = _kendall_to(evaluation.leave_one_target_out(history), truth)
    probe_only = np.mean([evaluation.kendall_tau(history.probes["probe"][:, j], truth[:, j]) for j in range(T)])
    assert both > 0.9 and both > prior_only + 0.2 and both > probe_only + 0.2


def test_new_models_are_predicted_from_metadata_and_probes():
    rng = np.random.default_rng(3)
    history, _ = _world(prior=0.0, probe=0.0)
    log_params = history.metadata[evaluation.METADATA_PARAMS]
    s = history.probes["probe"]
    truth = 60 + 4.0 * log_params[:, None] + 2.0 * s
    history = History(
        MODELS, TARGETS, truth + 0.1 * rng.normal(size=(M, T)), probes={"probe": s}, metadata=history.metadata
    )
    by_meta = evaluation.leave_one_model_out(history, metadata=[evaluation.METADATA_PARAMS])
    assert _kendall_to(by_meta, 60 + 4.0 * log_params[:, None] + 0 * s) > 0.95
    both = evaluation.leave_one_model_out(history, probes=["probe"], metadata=[evaluation.METADATA_PARAMS])
    assert _kendall_to(both, truth) > 0.9


def test_complete_table_prior_ranks_as_the_mean_of_the_other_targets():
    history, _ = _world(prior=5.0, probe=1.0, seed=1)
    oracle = {
        (a, s, t): float(history.accuracy[i, j]) for i, (a, s) in enumerate(MODELS) for j, t in enumerate(TARGETS)
    }
    for target, by_model in evaluation.leave_one_target_out(history).items():
        static = [evaluation.leave_target_out_accuracy(oracle, a, s, target) for a, s in MODELS]
        assert evaluation.pearson([by_model[m] for m in MODELS], static) == pytest.approx(1.0, abs=1e-12)


def test_missing_cells_a_model_seen_only_on_hard_targets_is_not_penalised():
    mu = np.array([90.0, 90.0, 50.0, 50.0, 70.0])
    b = np.array([0.0, 1.0, 2.0, 3.0])
    accuracy = mu + b[:, None]
    accuracy[3, :2] = np.nan  # the best model was only fine-tuned on the hard targets
    history = History(tuple((f"m{i}", "s") for i in range(4)), tuple(f"t{j}" for j in range(5)), accuracy)
    prediction = evaluation.leave_one_target_out(history, targets=["t4"])["t4"]
    assert max(prediction, key=prediction.get) == ("m3", "s")
    raw_mean = np.nanmean(accuracy[:, :4], axis=1)
    assert np.argmax(raw_mean) != 3  # the static mean ranks it last of the good ones


def test_models_without_history_are_flagged():
    history, _ = _world(prior=5.0, probe=0.0)
    fitted = evaluation.fit_history(history.without(models=[MODELS[0]]), metadata=[evaluation.METADATA_PARAMS])
    meta = {evaluation.METADATA_PARAMS: history.metadata[evaluation.METADATA_PARAMS][:3]}
    pred = fitted.predict(MODELS[:3], metadata=meta)
    assert pred.basis == (evaluation.BASIS_METADATA, evaluation.BASIS_HISTORY, evaluation.BASIS_HISTORY)
    assert list(pred.past_targets) == [0, T, T] and any("without history" in n for n in pred.notes)
    bare = fitted.predict([("unknown", "x"), MODELS[1]])
    assert bare.basis[0] == evaluation.BASIS_MEAN and bare.values[0] == pytest.approx(fitted.prior.mean())


# ---- leakage -----------------------------------------------------------------------------------------


def test_held_out_target_values_and_probe_scale_do_not_change_its_prediction():
    history, _ = _world(prior=3.0, probe=3.0)
    rng = np.random.default_rng(7)
    base = evaluation.leave_one_target_out(history, probes=["probe"], targets=["t5"])
    accuracy = history.accuracy.copy()
    accuracy[:, 5] = rng.permutation(accuracy[:, 5])
    probes = history.probes["probe"].copy()
    probes[:, 5] = 10 * probes[:, 5] - 3  # the held-out target's scores are normalised on their own
    probes[:, 2] = 2 * probes[:, 2] + 7  # so are every past target's
    shuffled = History(MODELS, TARGETS, accuracy, probes={"probe": probes}, metadata=history.metadata)
    again = evaluation.leave_one_target_out(shuffled, probes=["probe"], targets=["t5"])
    for model in MODELS:
        assert again["t5"][model] == pytest.approx(base["t5"][model], abs=1e-9)


def test_held_out_model_row_does_not_change_its_prediction():
    history, _ = _world(prior=3.0, probe=3.0)
    options = {"probes": ["probe"], "metadata": [evaluation.METADATA_PARAMS], "targets": ["t1"]}
    base = evaluation.leave_one_model_out(history, **options)["t1"][MODELS[4]]
    accuracy = history.accuracy.copy()
    accuracy[4] = np.random.default_rng(2).permutation(accuracy[4])
    changed = History(MODELS, TARGETS, accuracy, probes=history.probes, metadata=history.metadata)
    assert evaluation.leave_one_model_out(changed, **options)["t1"][MODELS[4]] == pytest.approx(base, abs=1e-9)


# ---- published tables and the PARC release --------------------------------------------------------------


@pytest.mark.parametrize(
    "table, wtau, pearson",
    [
        ("history_tebench_cnn_full", 0.837, 90.4),
        ("history_tebench_cnn_head", 0.645, 85.0),
        ("history_tebench_itm", 0.609, 74.6),
    ],
)
def test_prior_reproduces_the_published_tables_numbers(table, wtau, pearson):
    """The numbers of parc_jax/evaluation/tables/history/README.md, recomputed."""
    history = evaluation.read_history(table)
    mean = evaluation.ranking_summary(evaluation.leave_one_target_out(history), history)["mean"]
    assert round(mean["weighted_tau"], 3) == wtau and round(mean["pearson"], 1) == pearson


def test_prior_on_the_parc_controlled_oracle():
    """The static ranker's Pearson on the release's 6 targets is the 60.1 the issue quotes; the additive
    prior, which does not count a model's missing own-source target against it, is above it."""
    oracle = evaluation.read_oracle("parc_controlled")
    history = evaluation.read_history("parc_controlled")
    static = {
        t: {(a, s): evaluation.leave_target_out_accuracy(oracle, a, s, t) for a, s in history.models}
        for t in evaluation.RELEASE_TARGETS
    }
    static_pearson = evaluation.ranking_summary(static, history)["mean"]["pearson"]
    assert static_pearson == pytest.approx(60.12, abs=0.01)
    predictions = evaluation.leave_one_target_out(history, targets=evaluation.RELEASE_TARGETS)
    assert evaluation.ranking_summary(predictions, history)["mean"]["pearson"] > static_pearson + 2


def _table_rows():
    return [
        {
            "Architecture": "a",
            "Source Dataset": "s",
            "Target Dataset": "x",
            "Oracle": "80",
            "Params": "1000",
            "logme": "1.0",
        },
        {
            "Architecture": "a",
            "Source Dataset": "s",
            "Target Dataset": "y",
            "Oracle": "0",
            "Params": "",
            "logme": "2.0",
        },
        {
            "Architecture": "b",
            "Source Dataset": "s",
            "Target Dataset": "x",
            "Oracle": "70",
            "Params": "100",
            "logme": "",
        },
    ]


def test_read_history_matrix_metadata_and_errors():
    history = evaluation.read_history(_table_rows(), probes=["logme"], depth={"b": 12})
    assert history.models == (("a", "s"), ("b", "s")) and history.targets == ("x", "y")
    np.testing.assert_array_equal(history.accuracy, [[80, np.nan], [70, np.nan]])  # Oracle 0: not fine-tuned
    np.testing.assert_array_equal(history.metadata[evaluation.METADATA_PARAMS], [3.0, 2.0])
    np.testing.assert_array_equal(history.metadata[evaluation.METADATA_DEPTH], [np.nan, 12])
    assert np.isnan(history.probes["logme"][1, 0])
    with pytest.raises(ValueError, match="lacks column"):
        evaluation.read_history(_table_rows(), probes=["parc"])
    conflicting = _table_rows()
    conflicting[1]["Params"] = "5"
    with pytest.raises(ValueError, match="one value per model"):
        evaluation.read_history(conflicting)


def test_fit_and_predict_errors():
    history, _ = _world(prior=1.0, probe=1.0)
    with pytest.raises(ValueError, match="no probe scores named parc"):
        evaluation.fit_history(history, probes=["parc"])
    with pytest.raises(ValueError, match="alpha must be >= 0"):
        evaluation.fit_history(history, alpha=-1.0)
    with pytest.raises(ValueError, match="unknown metadata"):
        evaluation.fit_history(history, metadata=["width"])
    fitted = evaluation.fit_history(history, probes=["probe"])
    with pytest.raises(ValueError, match="pass their scores"):
        fitted.predict(MODELS)
    with pytest.raises(ValueError, match="has 2 values for 16 models"):
        fitted.predict(MODELS, probe_scores={"probe": [1.0, 2.0]})
    empty = History(MODELS[:2], TARGETS[:1], np.full((2, 1), np.nan))
    with pytest.raises(ValueError, match="no fine-tuned accuracy"):
        evaluation.fit_history(empty)


def test_zscore_per_target():
    z = evaluation.zscore_per_target([[1.0, 5.0], [3.0, 5.0], [np.nan, 5.0]])
    np.testing.assert_allclose(z, [[-1.0, 0.0], [1.0, 0.0], [0.0, 0.0]])


# ---- results rows (the benchmark's column) --------------------------------------------------------------


def test_history_columns_of_results_rows_leave_the_target_out():
    history, _ = _world(prior=3.0, probe=3.0)
    rows = [
        {
            "Run": run,
            "Architecture": a,
            "Source Dataset": s,
            "Target Dataset": t,
            "probe": float(history.probes["probe"][i, j]) + run,
        }
        for run in (0, 1)
        for i, (a, s) in enumerate(MODELS)
        for j, t in enumerate(TARGETS[:3])
    ]
    table = History(MODELS, TARGETS, history.accuracy)
    added = evaluation.add_history_columns(rows, table, probes=["probe"])
    assert added == [evaluation.HISTORY_COLUMN, evaluation.HISTORY_PRIOR_COLUMN]
    # Run 0, target t1: fitted without t1, with run 0's scores on t0 and t2 only.
    past = np.full((M, T), np.nan)
    past[:, [0, 2]] = history.probes["probe"][:, [0, 2]]
    fitted = evaluation.fit_history(
        History(MODELS, TARGETS, history.accuracy, probes={"probe": past}).without(targets=["t1"]), probes=["probe"]
    )
    expected = fitted.predict(MODELS, probe_scores={"probe": history.probes["probe"][:, 1]}).values
    got = [r[evaluation.HISTORY_COLUMN] for r in rows if r["Run"] == 0 and r["Target Dataset"] == "t1"]
    np.testing.assert_allclose(got, expected, atol=1e-9)
    with pytest.raises(ValueError, match="not columns of the results"):
        evaluation.add_history_columns(rows, table, probes=["logme"])


# ---- command lines ---------------------------------------------------------------------------------------


def _probe_files(tmp_path, n=40):
    """Three models probed on target 'new': model k's features separate the classes k + 1 times better."""
    rng = np.random.default_rng(0)
    labels = np.arange(n) % 4
    centers = rng.normal(size=(4, 8))
    paths = []
    for m in range(3):
        features = (centers[labels] * (m + 1) + rng.normal(size=(n, 8))).astype(np.float32)
        probs = rng.dirichlet(np.ones(5), size=n).astype(np.float32)
        path = tmp_path / f"m{m}.npz"
        write_probe_file(
            path, ProbeRecord(f"model{m}", ProbeSet(features, probs, labels), source_dataset="s", target_dataset="new")
        )
        paths.append(str(path))
    return paths


def test_score_history_flag_adds_the_column_and_can_recommend_by_it(tmp_path):
    paths = _probe_files(tmp_path)
    history = tmp_path / "history.csv"
    with open(history, "w", newline="") as handle:  # model0 was best on every past target
        writer = csv.writer(handle)
        writer.writerow([*evaluation.ORACLE_COLUMNS, "logme"])
        for t, level in (("old1", 70), ("old2", 50), ("new", 10)):
            for m, gain in ((0, 9), (1, 3), (2, 0)):
                writer.writerow([f"model{m}", "s", t, level + gain, m])
    out = tmp_path / "r.json"
    base = ["--probes", *paths, "--estimators", "logme", "--out", str(out)]
    assert score.main([*base, "--history", str(history)]) == 0
    result = json.loads(out.read_text())
    assert result["primary"] == "logme" and result["recommended"] == "model2"  # the most separable features
    by_model = {m["model"]: m for m in result["models"]}
    assert by_model["model0"]["history"] > by_model["model1"]["history"] > by_model["model2"]["history"]
    assert score.main([*base, "--history", str(history), "--rank-by-history"]) == 0
    result = json.loads(out.read_text())
    assert result["primary"] == "history" and result["recommended"] == "model0"
    assert score.main([*base, "--history", str(history), "--history-probes", "logme"]) == 0
    assert "history" in json.loads(out.read_text())["models"][0]


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--rank-by-history"], "needs a history table"),
        (["--history", "no_such.csv"], "not found"),
        (["--history", "parc_controlled", "--history-probes", "leep"], "not among the estimators"),
    ],
)
def test_score_history_flag_errors(tmp_path, capsys, flags, message):
    paths = _probe_files(tmp_path)
    assert score.main(["--probes", *paths, "--estimators", "logme", *flags]) == 2
    assert message in capsys.readouterr().err


def test_benchmark_evaluates_the_history_column(tmp_path):
    rng = np.random.default_rng(0)
    models = [("resnet50", "imagenet"), ("resnet18", "imagenet"), ("googlenet", "imagenet"), ("alexnet", "imagenet")]
    targets = ("cifar10", "oxford_pets", "cub200")
    labels = np.arange(30) % 3
    for target in targets:
        for m, (arch, source) in enumerate(models):
            entry = {
                "features": rng.normal(size=(30, 6)) + labels[:, None] * (m + 1),
                "y": labels,
                "probs": rng.dirichlet(np.ones(4), size=30),
                "architecture": arch,
                "source_dataset": source,
                "target_dataset": target,
            }
            (tmp_path / f"{arch}_{source}_{target}_0.pkl").write_bytes(pickle.dumps(entry))
    oracle = tmp_path / "oracle.csv"
    with open(oracle, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(evaluation.ORACLE_COLUMNS)
        writer.writerows(
            [(a, s, t, 60 + 5 * j - 3 * m) for m, (a, s) in enumerate(models) for j, t in enumerate(targets)]
        )
    out = tmp_path / "out"
    assert (
        benchmark_cli.main(
            [
                "--parc-release-probes",
                str(tmp_path),
                "--oracle",
                str(oracle),
                "--output-dir",
                str(out),
                "--config.estimators=logme,leep",
                f"--config.history={oracle}",
                "--config.history_probes=logme",
                "--config.plots=false",
                "--no-progress",
            ]
        )
        == 0
    )
    with open(out / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert evaluation.HISTORY_COLUMN in rows[0] and evaluation.HISTORY_PRIOR_COLUMN in rows[0]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["estimators"][-1] == "history" and "history_prior" in summary["baselines"]
    # The past ranks the models resnet50 > resnet18 > ...: the prior alone ranks every target perfectly.
    assert summary["summary"]["history_prior"]["kendall_tau"]["mean"] == pytest.approx(1.0)
    assert math.isfinite(summary["summary"]["history"]["pearson"]["mean"])


def test_benchmark_config_checks_history_probes():
    config = default_config()
    config.oracle, config.history, config.history_probes = "parc_controlled", "parc_controlled", ("nope",)
    with pytest.raises(ValueError, match="history_probes nope are not among"):
        validate_config(config, release=True)
