"""Banks of mixed feature widths: zero padding to a few shared widths where it changes no score."""

import inspect

import numpy as np
import pytest
from _synthetic import class_clusters

from parc_jax import estimators
from parc_jax.estimators import _engine

LABEL_FEATURE_ESTIMATORS = [
    name
    for name in estimators.names()
    if estimators.spec(name).input_kind == "features"
    and estimators.spec(name).target == "labels"
    and estimators.spec(name).combine is None
]
OPTIONS = [{}, {"n_dims": 8}, {"shrinkage": True}]


def _cases():
    """Every estimator and option set the engine pads at width 40."""
    for name in LABEL_FEATURE_ESTIMATORS:
        accepted = inspect.signature(estimators.get(name)).parameters
        for options in OPTIONS:
            if set(options) <= set(accepted) and _engine.pads_exactly(estimators.spec(name), 40, options):
                yield pytest.param(name, options, id=f"{name}-{options}")


def _score(name, x, labels, options):
    return float(estimators.score_bank(name, np.stack([x]), labels, 4, **options)[0])


@pytest.mark.parametrize("name,options", list(_cases()))
def test_zero_padding_changes_no_score_where_the_engine_pads(name, options):
    """Appending zero columns (40 -> 90, past N = 60: the Gram matrices change side) keeps the score of
    every estimator the engine pads."""
    x, labels = class_clusters(60, 40, 4)
    padded = np.pad(x, ((0, 0), (0, 50)))
    spec = estimators.spec(name)
    if spec.takes_width:  # the kernel needs the true width: through the bank path, as run_bank passes it
        wide = float(_engine._score_bank(spec, padded[None], labels, 4, options, widths=[40])()[0])
    else:
        wide = _score(name, padded, labels, options)
    assert wide == pytest.approx(_score(name, x, labels, options), rel=1e-4, abs=1e-4)


@pytest.mark.parametrize("name,options", [("parc", {}), ("hscore", {"shrinkage": True}), ("logme", {})])
def test_zero_columns_do_change_the_estimators_padded_only_with_care(name, options):
    """PARC on all features and the shrunk H-score see zero columns (never padded); LogME does unless
    told the true width."""
    x, labels = class_clusters(60, 40, 4)
    padded = np.pad(x, ((0, 0), (0, 50)))
    assert (name == "logme") == _engine.pads_exactly(estimators.spec(name), 40, options)
    plain, wide = _score(name, x, labels, options), _score(name, padded, labels, options)
    assert abs(wide - plain) > 1e-4 * max(1.0, abs(plain))  # 100x float32 noise


def test_n_dims_pads_only_widths_of_at_least_n_dims():
    spec = estimators.spec("parc")
    assert _engine.pads_exactly(spec, 32, {"n_dims": 32})
    assert not _engine.pads_exactly(spec, 31, {"n_dims": 32})
    assert not _engine.pads_exactly(spec, 512, {})
    assert not _engine.pads_exactly(estimators.spec("leep"), 512, {})


def test_buckets_at_most_double_the_work_and_are_few():
    widths = [256, 384, 512, 640, 768, 1024, 1280, 1536]
    assert _engine.bucket_widths(widths) == [1536] * 8
    assert _engine.bucket_widths([64] * 10 + [2048]) == [64] * 10 + [2048]
    assert _engine.bucket_widths([100]) == [100] and _engine.bucket_widths([]) == []
    rng = np.random.default_rng(0)
    for _ in range(50):
        widths = list(rng.integers(2, 3000, size=rng.integers(1, 40)))
        buckets = _engine.bucket_widths(widths)
        for top in set(buckets):
            members = [w for w, b in zip(widths, buckets) if b == top]
            assert top == max(members) and top * len(members) <= 2 * sum(members)


@pytest.mark.parametrize("name,options", [("logme", {}), ("knn", {"k": 3}), ("parc", {"n_dims": 8})])
def test_mixed_width_bank_runs_in_few_programs_with_the_scores_of_single_calls(name, options, monkeypatch):
    """Widths 20 ... 240 at N = 100 (both Gram routes of LogME in one bucket): 2 programs, and every
    model's score that of its own call; host arrays are stacked without a device program."""
    widths = (20, 24, 45, 61, 90, 240)
    bank, labels = [], None
    for m, d in enumerate(widths):
        x, labels = class_clusters(100, d, 4, seed=m)
        bank.append(x)
    shapes = []
    score_bank = _engine._score_bank

    def spy(spec, xs, *args, **opts):
        shapes.append((type(xs), xs.shape))
        return score_bank(spec, xs, *args, **opts)

    monkeypatch.setattr(_engine, "_score_bank", spy)
    scores = np.asarray(estimators.score_bank(name, bank, labels, 4, **options))
    assert sorted(shape for _, shape in shapes) == [(3, 100, 45), (3, 100, 240)]
    assert all(kind is np.ndarray for kind, _ in shapes)
    single = [float(estimators.get(name)(x, labels, 4, **options)) for x in bank]
    np.testing.assert_allclose(scores, single, rtol=1e-4, atol=1e-4)
