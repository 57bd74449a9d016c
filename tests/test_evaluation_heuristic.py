"""The PARC release's learned heuristic reproduces tests/data/golden/SEED_METHODS.md ("Learned heuristic")."""

import csv
import pathlib

import numpy as np
import pytest

from parc_jax import evaluation

TABLES = pathlib.Path(evaluation.__file__).parent / "tables" / "parc_release"
CONTROLLED = TABLES / "oracle_controlled.csv"
EVALUATION_TARGETS = ["cifar10", "oxford_pets", "cub200", "caltech101", "stanford_dogs", "nabird"]

# The release fit on all 196 rows of oracle_controlled.csv (SEED_METHODS.md), meta-feature order.
RELEASE_COEFFICIENTS = [
    -0.004811111780227126,
    0.018385707721041807,
    9.000703390054144e-05,
    0.0011275511421916947,
    0.44196454661961854,
    -0.38999759795399314,
    -7.023070607633519,
    -1.6533373592580318,
    -19.653965884451956,
    -3.0611442055272526,
]
RELEASE_INTERCEPT = 279.2598054192427


def _oracle_rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _results_table(path, fit_targets=None):
    """A results table (one run) over the evaluation targets with the held-out heuristic as a method."""
    rows = [r for r in _oracle_rows(path) if r["Target Dataset"] in EVALUATION_TARGETS]
    transfers = [(r["Architecture"], r["Source Dataset"], r["Target Dataset"]) for r in rows]
    scores = evaluation.learned_heuristic(path, transfers, fit_targets=fit_targets)
    table = [
        {"Run": 0, "Architecture": a, "Source Dataset": s, "Target Dataset": t, "heuristic": x}
        for (a, s, t), x in zip(transfers, scores)
        if np.isfinite(x)
    ]
    return table


def test_release_fit_coefficients():
    weights, intercept = evaluation.fit_learned_heuristic(CONTROLLED)
    np.testing.assert_allclose(weights, RELEASE_COEFFICIENTS, rtol=1e-6)
    assert intercept == pytest.approx(RELEASE_INTERCEPT, rel=1e-9)


@pytest.mark.parametrize(
    "fit_targets,without,with_plasticity",
    [
        (EVALUATION_TARGETS, 50.427698020306785, 51.44890522665466),  # fit on the other 5 evaluation targets
        (None, 50.704782275403545, 51.48451310886812),  # voc2007-target rows fitted too
    ],
)
@pytest.mark.parametrize("oracle", ["oracle_controlled.csv", "oracle_all.csv"])
def test_leave_one_target_out_pearson(oracle, fit_targets, without, with_plasticity):
    """oracle_all.csv has meta-features for exactly the controlled rows: the same numbers."""
    path = TABLES / oracle
    table = _results_table(path, fit_targets)
    assert len(table) == 168
    result = evaluation.parc_protocol(table, path, plasticity=False)["heuristic"]["mean"]
    assert result == pytest.approx(without, abs=1e-6)
    result = evaluation.parc_protocol(table, path, plasticity=True)["heuristic"]["mean"]
    assert result == pytest.approx(with_plasticity, abs=1e-6)


def test_prediction_never_sees_its_own_target(tmp_path):
    """Changing the oracle of one target leaves that target's predictions unchanged (and not the others')."""
    rows = _oracle_rows(CONTROLLED)
    changed = [
        dict(r, Oracle=str(float(r["Oracle"]) * 0.5 + 7)) if r["Target Dataset"] == "cub200" else r for r in rows
    ]
    path = tmp_path / "oracle.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(changed)
    transfers = [("resnet50", "imagenet", "cub200"), ("alexnet", "nabird", "cub200"), ("resnet18", "cub200", "cifar10")]
    before = evaluation.learned_heuristic(CONTROLLED, transfers)
    after = evaluation.learned_heuristic(path, transfers)
    np.testing.assert_allclose(after[:2], before[:2], rtol=1e-12)
    assert after[2] != pytest.approx(before[2], rel=1e-6)


def test_unknown_meta_features_give_nan():
    transfers = [("resnet50", "mask-rcnn_fpn_138205316", "cifar10"), ("vit", "imagenet", "cifar10")]
    assert np.isnan(evaluation.learned_heuristic(CONTROLLED, transfers)).all()
    assert evaluation.heuristic_features(("alexnet", "imagenet", "cifar10"))[4] == 8


def test_too_few_rows_raise():
    rows = _oracle_rows(CONTROLLED)[:5]
    with pytest.raises(ValueError, match="11 coefficients"):
        evaluation.fit_learned_heuristic(rows)
