"""SFDA, ETran, PED and NCTI agree in float32 with the float64 goldens of their original releases
(tests/data/golden/BREADTH.md, tolerances from its table), jitted and not, one model or a bank."""

import jax
import numpy as np
import pytest

from parc_jax import estimators
from parc_jax.estimators import reference

NCTI_KEYS = ("ncti_feature_nuc", "ncti_cls_conf", "ncti_log_class_pred_nuc")


@pytest.fixture(scope="module")
def golden(golden_cases):
    return golden_cases("breadth_public.json")


@pytest.mark.parametrize("case_index", range(4))
def test_matches_golden(golden, case_index):
    case = golden[case_index]
    x, y, c, ref = case["features"], case["labels"], case["num_classes"], case["reference"]
    assert float(estimators.sfda(x, y, c)) == pytest.approx(ref["sfda"], abs=1e-6)
    assert float(estimators.etran_lda(x, y, c)) == pytest.approx(ref["etran_lda"], abs=1e-6)
    assert float(estimators.etran_energy(x, y, c)) == pytest.approx(ref["etran_energy"], rel=1e-5)
    assert float(estimators.ped(x, y, c)) == pytest.approx(ref["ped_sfda"], abs=1e-6)
    assert float(estimators.ped(x, y, c, base="logme")) == pytest.approx(ref["ped_logme"], rel=1e-3)
    terms = np.asarray(estimators.ncti_terms(x, y, c))
    np.testing.assert_allclose(terms, [ref[key] for key in NCTI_KEYS], rtol=1e-3)


def test_golden_cases_cover_saturated_and_graded_scores(golden):
    """The SFDA goldens include saturated cases (N - C < D) and a graded one, so both regimes are tested."""
    values = [case["reference"]["sfda"] for case in golden]
    assert any(abs(v - 1) < 1e-9 for v in values) and any(v < 0.9 for v in values)
    assert any(case["features"].shape[0] - case["num_classes"] < case["features"].shape[1] for case in golden)


@pytest.mark.parametrize("name", ["sfda", "etran_lda"])
def test_n_dims_matches_float64_pca_and_stops_saturating(golden, name):
    """With n_dims the classifier runs on exact PCA scores: the float64 reference on the same scores
    agrees, and the saturated case 1 (N=500, D=2048, C=37) gets a graded score."""
    case = golden[1]
    x, y, c = case["features"], case["labels"], case["num_classes"]
    value = float(estimators.get(name)(x, y, c, n_dims=32))
    expected = reference.FUNCTIONS[name](reference._pca(x, 32), y, c)
    assert value == pytest.approx(expected, abs=1e-5)
    assert case["reference"][name] == 1.0 and value < 0.95


@pytest.mark.parametrize("key", ["sfda", "etran_energy", "etran_lda", "ped_sfda", "ped_logme", *NCTI_KEYS])
def test_float64_reference_matches_golden(golden, key):
    """The NumPy side of the speed benchmark computes the releases' numbers."""
    for case in golden:
        if case["features"].shape[1] > 1024:
            continue  # two 2048 x 2048 float64 generalised eigenproblems take ~10 s here
        value = reference.FUNCTIONS[key](case["features"], case["labels"], case["num_classes"])
        assert value == pytest.approx(case["reference"][key], rel=1e-6, abs=1e-9)


def _bank(m=3, n=240, d=40, c=5, seed=0):
    """M models of class-structured features, with class means close enough (and a scale small enough for
    SFDA's shrinkage to stay large) that the scores are graded, also for N - C < D."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % c
    centers = rng.normal(size=(m, c, d)) * np.linspace(0.15, 0.45, m)[:, None, None] * np.sqrt(40 / d)
    features = 0.1 * (centers[:, labels] + rng.normal(size=(m, n, d)))
    return features.astype(np.float32), labels.astype(np.int32)


SINGLE = [
    ("sfda", {}),
    ("sfda", {"n_dims": 8}),
    ("etran_energy", {}),
    ("etran_lda", {}),
    ("ped", {}),
    ("ped", {"base": "logme"}),
]


@pytest.mark.parametrize("d", [40, 300])  # N > D, and N < D (the QR span coordinates)
@pytest.mark.parametrize("name,opts", SINGLE)
def test_jit_and_bank_agree_with_single_calls(name, opts, d):
    features, labels = _bank(d=d)
    fn = estimators.get(name)
    single = np.array([float(fn(x, labels, 5, **opts)) for x in features])
    jitted = jax.jit(lambda x: fn(x, labels, 5, **opts))
    np.testing.assert_allclose([float(jitted(x)) for x in features], single, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(estimators.score_bank(name, features, labels, 5, **opts), single, rtol=1e-5, atol=1e-6)
    assert len(set(single.round(6))) > 1  # the models differ, so a mixed-up bank would show


@pytest.mark.parametrize("name,key", [("sfda", "sfda"), ("etran_lda", "etran_lda"), ("ped", "ped_sfda")])
def test_graded_scores_match_float64_reference(name, key):
    """Where the goldens saturate (N - C < D), a bank with graded scores checks the float32 formulation
    against the float64 release algorithm."""
    features, labels = _bank(d=300)
    expected = [reference.FUNCTIONS[key](x, labels, 5) for x in features]
    assert max(expected) < 0.999
    np.testing.assert_allclose(estimators.score_bank(name, features, labels, 5), expected, atol=1e-5)


@pytest.mark.parametrize(
    "name,terms_fn,keys", [("ncti", estimators.ncti_terms, None), ("etran", None, ("etran_energy", "etran_lda"))]
)
def test_bank_relative_scores_combine_single_terms(name, terms_fn, keys):
    features, labels = _bank(m=4, d=300)
    if terms_fn is None:
        singles = np.array([[float(estimators.get(k)(x, labels, 5)) for k in keys] for x in features])
    else:
        singles = np.array([np.asarray(terms_fn(x, labels, 5)) for x in features])
    jitted = jax.jit(lambda x: estimators.ncti_terms(x, labels, 5))
    if terms_fn is not None:
        np.testing.assert_allclose(np.array([np.asarray(jitted(x)) for x in features]), singles, rtol=1e-5)
    terms = np.asarray(estimators.score_bank_terms(name, features, labels, 5))
    np.testing.assert_allclose(terms, singles, rtol=1e-5, atol=1e-6)
    combined = np.asarray(estimators.score_bank(name, features, labels, 5))
    np.testing.assert_allclose(combined, estimators.spec(name).combine(terms), rtol=1e-6)
    np.testing.assert_allclose(estimators.get(name)(list(features), labels, 5), combined, rtol=1e-5, atol=1e-6)


def test_bank_of_mixed_widths_scores_each_model():
    features, labels = _bank(m=2, d=40)
    wide, _ = _bank(m=1, d=64, seed=1)
    bank = [features[0], wide[0], features[1]]
    expected = [float(estimators.sfda(x, labels, 5)) for x in bank]
    np.testing.assert_allclose(estimators.score_bank("sfda", bank, labels, 5), expected, rtol=1e-5)


def test_min_max_combine():
    terms = np.array([[1.0, 5.0, 2.0], [3.0, 5.0, 0.0], [2.0, 5.0, 1.0]])
    np.testing.assert_allclose(estimators.min_max_combine(terms, (1.0, 1.0, -1.0)), [-1.0, 1.0, 0.0])
    with pytest.raises(ValueError, match="shape"):
        estimators.min_max_combine(terms, (1.0, 1.0))


def test_absent_class_gets_no_probability():
    """A class with no sample stays out of SFDA (prior 0, not among the other class means)."""
    features, labels = _bank(m=1, c=4)
    value = float(estimators.sfda(features[0], labels, 4))
    assert float(estimators.sfda(features[0], labels, 6)) == pytest.approx(value, rel=1e-5)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda x, y: estimators.sfda(x, y, 5, n_dims=1), "n_dims"),
        (lambda x, y: estimators.etran_lda(x, y, 5, n_dims="all"), "n_dims"),
        (lambda x, y: estimators.ped(x, y, 5, base="leep"), "base"),
        (lambda x, y: estimators.etran_energy(x[:150], y[:150], 5), "N >= 200"),
        (lambda x, y: estimators.ncti_terms(x, y + 1, 5), r"\[0, 5\)"),
        (lambda x, y: estimators.sfda(x[:, :, None], y, 5), "2-D"),
        (lambda x, y: estimators.etran(x, y, 5), "bank must be"),
        (lambda x, y: estimators.score_bank_terms("sfda", x[None], y, 5), "score_bank"),
        (lambda x, y: estimators.ncti_terms(np.where(np.arange(240)[:, None] == 3, np.nan, x), y, 5), "NaN"),
    ],
)
def test_bad_input_raises(call, match):
    features, labels = _bank(m=1)
    with pytest.raises(ValueError, match=match):
        call(features[0], labels)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_energy_term_checks_values_in_its_own_pass(bad):
    """etran_energy's kernel reports non-finite input itself (the engine adds no check pass): once its
    program has run on these shapes, a bad entry, also one that its logsumexp would absorb (-inf), is named."""
    features, labels = _bank(m=2)
    estimators.score_bank("etran_energy", features, labels, 5)
    features[1, 7, 3] = bad
    with pytest.raises(ValueError, match=r"NaN or inf \(first at model 1, row 7\)"):
        estimators.score_bank("etran_energy", features, labels, 5)
