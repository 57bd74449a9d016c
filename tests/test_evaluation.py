"""parc_jax.evaluation: ranking metrics against SciPy, the PARC protocol against the goldens."""

import csv
import json
import math
import pathlib

import numpy as np
import pytest
import scipy.stats

from parc_jax import evaluation

# --------------------------------------------------------------------------- metrics vs SciPy

SCIPY = {
    "pearson": lambda x, y: scipy.stats.pearsonr(x, y)[0],
    "spearman": lambda x, y: scipy.stats.spearmanr(x, y)[0],
    "kendall_tau": lambda x, y: scipy.stats.kendalltau(x, y)[0],
    "weighted_tau": lambda x, y: scipy.stats.weightedtau(x, y)[0],
}


def _random_pairs():
    """Random (x, y) of many sizes; half with heavy ties (few distinct values)."""
    rng = np.random.default_rng(0)
    for n in (2, 3, 5, 17, 60, 200):
        for _ in range(6):
            ties = rng.random() < 0.5
            x = rng.integers(0, 4, n).astype(float) if ties else rng.normal(size=n)
            y = 0.5 * x + rng.normal(size=n)
            if ties:
                y = np.round(y)
            yield x, y


@pytest.mark.filterwarnings("ignore::scipy.stats.ConstantInputWarning")
@pytest.mark.parametrize("name", sorted(SCIPY))
def test_metric_matches_scipy(name):
    ours = getattr(evaluation, name)
    for x, y in _random_pairs():
        want = SCIPY[name](x, y)
        got = ours(x, y)
        if math.isnan(want):
            assert math.isnan(got), (name, x, y)
        else:
            assert got == pytest.approx(want, abs=1e-12), (name, x, y)


@pytest.mark.filterwarnings("ignore::scipy.stats.ConstantInputWarning")
@pytest.mark.parametrize("name", sorted(SCIPY))
def test_constant_input_is_nan_like_scipy(name):
    ours = getattr(evaluation, name)
    for x, y in (([1.0, 1, 1, 1], [1.0, 2, 3, 4]), ([3.0, 1, 2], [5.0, 5, 5])):
        assert math.isnan(SCIPY[name](x, y))
        assert math.isnan(ours(x, y))


@pytest.mark.parametrize("name", ["kendall_tau", "weighted_tau"])
def test_pairwise_metrics_past_one_block(name):
    """More models than one block of pairwise rows (512), exact ties included."""
    rng = np.random.default_rng(1)
    x = rng.integers(0, 50, 700).astype(float)
    y = x + rng.integers(0, 30, 700)
    assert getattr(evaluation, name)(x, y) == pytest.approx(SCIPY[name](x, y), abs=1e-12)


def test_weighted_tau_weighs_the_top():
    """A swap of the two best models costs more than a swap of the two worst."""
    acc = np.arange(10.0)
    top_swapped = acc.copy()
    top_swapped[[8, 9]] = top_swapped[[9, 8]]
    bottom_swapped = acc.copy()
    bottom_swapped[[0, 1]] = bottom_swapped[[1, 0]]
    assert evaluation.weighted_tau(top_swapped, acc) < evaluation.weighted_tau(bottom_swapped, acc)
    assert evaluation.kendall_tau(top_swapped, acc) == evaluation.kendall_tau(bottom_swapped, acc)


def test_metrics_accept_lists_and_ints():
    assert evaluation.spearman([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert evaluation.pearson((3, 2, 1), [1.0, 2.0, 3.0]) == pytest.approx(-1.0)


# ---------------------------------------------------------------- top-1 and regret


def test_top1_relative_accuracy():
    acc = [50.0, 80.0, 60.0]
    assert evaluation.top1_relative_accuracy([0.1, 0.9, 0.3], acc) == 1.0
    assert evaluation.top1_relative_accuracy([0.9, 0.1, 0.3], acc) == pytest.approx(50 / 80)
    # Tied top scores count pessimistically: the lowest accuracy among them.
    assert evaluation.top1_relative_accuracy([1.0, 1.0, 0.0], acc) == pytest.approx(50 / 80)
    with pytest.raises(ValueError, match="positive best accuracy"):
        evaluation.top1_relative_accuracy([1.0, 2.0], [0.0, -1.0])


def test_regret_at_k():
    scores = [0.9, 0.8, 0.1, 0.5]
    acc = [60.0, 70.0, 90.0, 80.0]
    assert evaluation.regret_at_k(scores, acc) == pytest.approx(30.0)
    assert evaluation.regret_at_k(scores, acc, k=2) == pytest.approx(20.0)
    assert evaluation.regret_at_k(scores, acc, k=3) == pytest.approx(10.0)
    assert evaluation.regret_at_k(scores, acc, k=4) == 0.0
    assert evaluation.regret_at_k(scores, acc, k=2, relative=True) == pytest.approx(20 / 90)
    # Ties at the cut-off: the worse of the tied models is taken.
    assert evaluation.regret_at_k([1.0, 0.5, 0.5], [10.0, 30.0, 20.0], k=2) == pytest.approx(10.0)
    for k in (0, 5, 1.5, True):
        with pytest.raises(ValueError, match="k must be an integer in \\[1, 4\\]"):
            evaluation.regret_at_k(scores, acc, k=k)


@pytest.mark.parametrize(
    "x, y, match",
    [
        ([1.0, 2.0], [1.0, 2.0, 3.0], "same length"),
        ([1.0], [2.0], "at least 2"),
        ([1.0, np.nan, 3.0], [1.0, 2.0, 3.0], "scores has 1 non-finite"),
        ([1.0, 2.0, 3.0], [1.0, np.inf, 3.0], "accuracies has 1 non-finite"),
        ([[1.0, 2.0]], [[1.0, 2.0]], "must be 1-D"),
        (["a", "b"], [1.0, 2.0], "sequence of numbers"),
    ],
)
@pytest.mark.parametrize("name", sorted(evaluation.METRICS))
def test_metric_input_errors(name, x, y, match):
    with pytest.raises(ValueError, match=match):
        evaluation.METRICS[name](x, y)


# --------------------------------------------------------------------------- PARC protocol


@pytest.fixture(scope="module")
def protocol_paths(golden_dir):
    return (
        golden_dir / "protocol_public.csv",
        pathlib.Path(evaluation.__file__).parent / "tables" / "parc_release" / "oracle_controlled.csv",
        json.loads((golden_dir / "protocol_public.json").read_text()),
    )


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _assert_golden(got, golden):
    assert list(got) == list(golden["mean"])
    for m in golden["mean"]:
        assert got[m]["mean"] == pytest.approx(golden["mean"][m], abs=1e-6)
        assert got[m]["variance"] == pytest.approx(golden["variance"][m], abs=1e-6)


@pytest.mark.parametrize("plasticity", [False, True])
def test_protocol_matches_release_golden(protocol_paths, plasticity):
    results, oracle, golden = protocol_paths
    key = "with_plasticity" if plasticity else "without_plasticity"
    _assert_golden(evaluation.parc_protocol(results, oracle, plasticity=plasticity), golden[key])
    # The same tables given in memory: row dicts with numbers, and a dict of columns.
    rows = [
        {k: (float(v) if k not in ("Architecture", "Source Dataset", "Target Dataset") else v) for k, v in r.items()}
        for r in _rows(results)
    ]
    oracle_rows = _rows(oracle)
    columns = {k: [r[k] for r in oracle_rows] for k in oracle_rows[0]}
    got = evaluation.parc_protocol(rows, columns, plasticity=plasticity)
    _assert_golden(got, golden[key])


def test_protocol_layers_override(protocol_paths):
    results, oracle, golden = protocol_paths
    # The release's depths given explicitly reproduce the default.
    same = evaluation.parc_protocol(results, oracle, plasticity=True, layers=dict(evaluation.RELEASE_MODEL_LAYERS))
    _assert_golden(same, golden["with_plasticity"])
    # Other depths change the plasticity term and so the result.
    flat = {a: 20 for a in evaluation.RELEASE_MODEL_LAYERS}
    other = evaluation.parc_protocol(results, oracle, plasticity=True, layers=flat)
    assert other["good"]["mean"] != pytest.approx(same["good"]["mean"], abs=1e-3)
    with pytest.raises(ValueError, match=r"architecture\(s\) \['alexnet', 'googlenet'\]"):
        evaluation.parc_protocol(results, oracle, plasticity=True, layers={"resnet50": 50, "resnet18": 18})


def _small_tables():
    """2 runs x 2 targets x 4 models; one excluded source, one empty oracle cell."""
    rng = np.random.default_rng(3)
    models = [("resnet50", "a"), ("resnet18", "b"), ("alexnet", "c"), ("resnet50", "moco_imagenet")]
    oracle, results = [], []
    for target in ("t1", "t2"):
        for arch, source in models:
            acc = "" if (source, target) == ("c", "t2") else float(rng.uniform(40, 90))
            oracle.append({"Architecture": arch, "Source Dataset": source, "Target Dataset": target, "Oracle": acc})
    for run in (0, 1):
        for target in ("t1", "t2"):
            for arch, source in models:
                results.append(
                    {
                        "Run": run,
                        "Architecture": arch,
                        "Source Dataset": source,
                        "Target Dataset": target,
                        "m": float(rng.normal()),
                    }
                )
    return results, oracle


def test_protocol_release_rules_on_a_small_table():
    """Self-supervised sources and empty oracles are left out; variance is over runs, ddof=0."""
    results, oracle = _small_tables()
    acc = {(o["Architecture"], o["Source Dataset"], o["Target Dataset"]): o["Oracle"] for o in oracle}
    per_run = []
    for run in (0, 1):
        per_target = []
        for target in ("t1", "t2"):
            pairs = [
                (r["m"], acc[r["Architecture"], r["Source Dataset"], target])
                for r in results
                if r["Run"] == run and r["Target Dataset"] == target and r["Source Dataset"] != "moco_imagenet"
            ]
            pairs = [(s, a) for s, a in pairs if a != ""]
            per_target.append(100 * scipy.stats.pearsonr(*zip(*pairs))[0])
        per_run.append(np.mean(per_target))
    got = evaluation.parc_protocol(results, oracle, plasticity=False)["m"]
    assert got["mean"] == pytest.approx(np.mean(per_run), abs=1e-12)
    assert got["variance"] == pytest.approx(np.var(per_run), abs=1e-12)
    # A target with a single row in a run has no correlation and is skipped, as in the release.
    lone = {"Run": 0, "Architecture": "resnet50", "Source Dataset": "a", "Target Dataset": "t3"}
    lone_oracle = {"Architecture": "resnet50", "Source Dataset": "a", "Target Dataset": "t3"}
    with_lone = evaluation.parc_protocol(
        results + [dict(lone, m=0.5)], oracle + [dict(lone_oracle, Oracle=70.0)], plasticity=False
    )
    assert with_lone["m"] == pytest.approx(got)
    with pytest.raises(ValueError, match="run 0: no target dataset has 2 or more results rows"):
        evaluation.parc_protocol([dict(lone, m=0.5)], [dict(lone_oracle, Oracle=70.0)], plasticity=False)
    # Keeping the self-supervised source changes the numbers.
    kept = evaluation.parc_protocol(results, oracle, plasticity=False, excluded_sources=())
    assert kept["m"]["mean"] != pytest.approx(got["mean"], abs=1e-6)


def test_protocol_csv_and_memory_agree(tmp_path):
    results, oracle = _small_tables()
    paths = []
    for name, table in (("results.csv", results), ("oracle.csv", oracle)):
        path = tmp_path / name
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(table[0]))
            writer.writeheader()
            writer.writerows(table)
        paths.append(path)
    for plasticity in (False, True):
        from_files = evaluation.parc_protocol(*paths, plasticity=plasticity)
        in_memory = evaluation.parc_protocol(results, oracle, plasticity=plasticity)
        assert from_files["m"]["mean"] == pytest.approx(in_memory["m"]["mean"], abs=1e-12)


def test_protocol_errors(tmp_path):
    results, oracle = _small_tables()
    run = evaluation.parc_protocol
    with pytest.raises(ValueError, match="results table lacks column.*'Target Dataset'"):
        run([{k: v for k, v in r.items() if k != "Target Dataset"} for r in results], oracle, plasticity=False)
    with pytest.raises(ValueError, match="oracle table lacks column.*'Oracle'"):
        run(results, [{k: v for k, v in r.items() if k != "Oracle"} for r in oracle], plasticity=False)
    with pytest.raises(ValueError, match="no method column"):
        run([{k: v for k, v in r.items() if k != "m"} for r in results], oracle, plasticity=False)
    renamed = [dict(r, Architecture="vit") for r in oracle]
    with pytest.raises(ValueError, match="no \\(Architecture, Source Dataset, Target Dataset\\)"):
        run(results, renamed, plasticity=False)
    with pytest.raises(ValueError, match="2 results row\\(s\\) have no oracle accuracy"):
        run(results, oracle[1:], plasticity=False)
    with pytest.raises(ValueError, match="appears twice"):
        run(results, oracle + oracle[:1], plasticity=False)
    with pytest.raises(ValueError, match="column 'm' row 0 holds 'high', not a number"):
        run([dict(results[0], m="high")] + results[1:], oracle, plasticity=False)
    with pytest.raises(ValueError, match="infinite"):
        run([dict(results[0], m=float("inf"))] + results[1:], oracle, plasticity=False)
    with pytest.raises(ValueError, match="a correlation needs at least 2"):
        run(results, [dict(o, Oracle=0.0) if o["Target Dataset"] == "t1" else o for o in oracle], plasticity=False)
    with pytest.raises(ValueError, match="plasticity needs the depth.*'alexnet'"):
        run(results, oracle, plasticity=True, layers={"resnet50": 50, "resnet18": 18})
    with pytest.raises(ValueError, match="cannot read the results CSV"):
        run(tmp_path / "absent.csv", oracle, plasticity=False)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match="is empty"):
        run(empty, oracle, plasticity=False)
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("Run,Architecture,Source Dataset,Target Dataset,m\n0,a,b,c,1\n\n0,a,b\n")
    with pytest.raises(ValueError, match="line 4: 3 cells where the header has 5"):
        run(ragged, oracle, plasticity=False)
    binary = tmp_path / "scores.npz"
    binary.write_bytes(bytes(range(256)))
    with pytest.raises(ValueError, match="not a readable CSV text file"):
        run(binary, oracle, plasticity=False)
    with pytest.raises(ValueError, match="must be a CSV path"):
        run(42, oracle, plasticity=False)


def test_protocol_missing_scores_read_as_zero(caplog):
    """As the release's fillna(0): an empty score is a 0, with a warning."""
    results, oracle = _small_tables()
    blank = [dict(r) for r in results]
    blank[0]["m"] = ""
    zero = [dict(r) for r in results]
    zero[0]["m"] = 0.0
    got = evaluation.parc_protocol(blank, oracle, plasticity=True)
    assert got == evaluation.parc_protocol(zero, oracle, plasticity=True)
    assert "1 missing value(s) read as 0" in caplog.text
