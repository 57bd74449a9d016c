"""GBC, TransRate, LEAD, PACTran, RankMe and the linear probes: float32 against the float64 goldens of the
original releases (tests/data/golden/BREADTH.md), compiled paths, banks and input errors."""

import jax
import numpy as np
import pytest

from parc_jax import estimators
from parc_jax.estimators import _softmax_regression, _transrate, reference

# golden key -> (estimator, options, tolerance (kind, value)); tolerances from BREADTH.md
GOLDEN_KEYS = {
    "gbc": ("gbc", {}, ("rel", 1e-3)),
    "gbc_diagonal": ("gbc", {"gaussian": "diagonal"}, ("rel", 1e-3)),
    "transrate": ("transrate", {}, ("rel", 1e-3)),
    "transrate_weighted": ("transrate", {"weighted": True}, ("rel", 1e-3)),
    "lead_asis": ("lead", {}, ("rel", 1e-4)),
    "pactran_dir": ("pactran_dirichlet", {}, ("rel", 1e-5)),
    "pactran_gamma": ("pactran_gamma", {}, ("rel", 1e-5)),
    "rankme": ("rankme", {}, ("rel", 1e-5)),
    "linear_probe_tebench": ("linear_probe", {}, ("abs", 0.03)),
}
for _lam, _pair in ((10, (1000, 100)), (1, (100, 10)), (0.1, (10, 1))):
    GOLDEN_KEYS[f"linear_valerr_l{_lam:g}"] = ("linear_valerr", {"lam": _lam}, ("abs", 0.02))
    for _s2 in _pair:
        _tolerance = ("rel", 3e-3 if _lam == 0.1 else 1e-2)
        GOLDEN_KEYS[f"pactran_gauss_l{_lam:g}_s{_s2:g}"] = (
            "pactran_gaussian",
            {"lam": _lam, "sigma2": _s2},
            _tolerance,
        )
NAMES = sorted({name for name, _, _ in GOLDEN_KEYS.values()})


@pytest.fixture(scope="module")
def golden(golden_cases):
    return golden_cases("breadth_public.json")


def _input(name, case):
    return case["probs"] if estimators.spec(name).input_kind == "probs" else case["features"]


def _assert_close(value, expected, tolerance):
    kind, size = tolerance
    if kind == "rel":
        assert value == pytest.approx(expected, rel=size)
    else:
        assert abs(value - expected) <= size


@pytest.mark.parametrize("key", GOLDEN_KEYS)
def test_matches_golden_in_float32(golden, key):
    """Every case of a key in one bank call per case (the bank of one is the single-call program)."""
    name, opts, tolerance = GOLDEN_KEYS[key]
    for index, case in enumerate(golden):
        value = float(estimators.get(name)(_input(name, case), case["labels"], case["num_classes"], **opts))
        try:
            _assert_close(value, case["reference"][key], tolerance)
        except AssertionError as error:
            raise AssertionError(f"case {index}: {error}") from None


@pytest.mark.parametrize("key", ["gbc", "transrate_weighted", "lead_asis", "pactran_dir", "pactran_gamma", "rankme"])
def test_float64_reference_matches_golden(golden, key):
    """The NumPy side of the speed benchmark computes the releases' numbers (closed forms: to 1e-9)."""
    name, opts, _ = GOLDEN_KEYS[key]
    for case in golden:
        if name == "transrate" and case["features"].shape[1] > 1024:
            continue  # 38 slogdets of 2048 x 2048 in float64: seconds; the other cases cover the formula
        value = reference.FUNCTIONS[name](_input(name, case), case["labels"], case["num_classes"], **opts)
        assert value == pytest.approx(case["reference"][key], rel=1e-9, abs=1e-12)


def test_float64_reference_of_the_fitted_heads_matches_golden(golden):
    case = golden[3]  # N = 300, D = 128: the L-BFGS-B and scikit-learn fits take well under a second
    args = case["features"], case["labels"], case["num_classes"]
    assert reference.pactran_gaussian(*args, lam=1.0, sigma2=10.0) == pytest.approx(
        case["reference"]["pactran_gauss_l1_s10"], rel=1e-9
    )
    assert reference.linear_valerr(*args, lam=0.1) == pytest.approx(case["reference"]["linear_valerr_l0.1"])
    assert reference.linear_probe(*args) == pytest.approx(case["reference"]["linear_probe_tebench"])


def _problem(seed=0, n=48, d=20, c=4, z=6):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % c
    rng.shuffle(labels)
    features = (1.5 * rng.normal(size=(c, d))[labels] + rng.normal(size=(n, d))).astype(np.float32)
    logits = rng.normal(size=(n, z)) + 2 * np.eye(z)[labels % z]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return features, probs.astype(np.float32), labels.astype(np.int32), c


def _small_input(name, features, probs):
    return probs if estimators.spec(name).input_kind == "probs" else features


@pytest.mark.parametrize("name", NAMES)
def test_jit_and_no_jit_agree(name):
    features, probs, labels, c = _problem()
    x = _small_input(name, features, probs)
    jitted = float(estimators.get(name)(x, labels, c))
    with jax.disable_jit():
        eager = float(estimators.get(name)(x, labels, c))
    assert jitted == pytest.approx(eager, rel=1e-4, abs=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_inside_a_users_jit(name):
    features, probs, labels, c = _problem(seed=1)
    x = _small_input(name, features, probs)
    traced = float(jax.jit(lambda v: estimators.get(name)(v, labels, c))(x))
    assert traced == pytest.approx(float(estimators.get(name)(x, labels, c)), rel=1e-4, abs=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_score_bank_equals_single_calls(name):
    """An [M, N, D] bank, and a list mixing two widths, give the M single-call scores."""
    models = [_problem(seed=s) for s in range(3)]
    labels, c = models[0][2], models[0][3]
    xs = [_small_input(name, f, p) for f, p, _, _ in models]
    singles = [float(estimators.get(name)(x, labels, c)) for x in xs]
    stacked = np.asarray(estimators.score_bank(name, np.stack(xs), labels, c))
    np.testing.assert_allclose(stacked, singles, rtol=1e-4, atol=1e-5)
    if estimators.spec(name).input_kind == "features":
        mixed = [xs[0], xs[1][:, :12], xs[2]]
        expected = [singles[0], float(estimators.get(name)(mixed[1], labels, c)), singles[2]]
        np.testing.assert_allclose(
            np.asarray(estimators.score_bank(name, mixed, labels, c)), expected, rtol=1e-4, atol=1e-5
        )


@pytest.mark.parametrize("name", ["gbc", "transrate", "lead", "pactran_dirichlet", "pactran_gamma", "rankme"])
def test_invariant_to_sample_order_and_class_names(name):
    features, probs, labels, c = _problem(seed=2)
    x = _small_input(name, features, probs)
    value = float(estimators.get(name)(x, labels, c))
    order = np.random.default_rng(0).permutation(len(labels))
    assert float(estimators.get(name)(x[order], labels[order], c)) == pytest.approx(value, rel=1e-4)
    renamed = (labels + 1) % c
    assert float(estimators.get(name)(x, renamed, c)) == pytest.approx(value, rel=1e-4)


def test_transrate_row_and_column_routes_agree():
    """The block-diagonal N x N factorisation and the per-class D x D ones both give the class log-determinants
    (to the float32 accuracy of the goldens' tolerance)."""
    features, _, labels, c = _problem(seed=3, n=40, d=30)
    centered = features - features.mean(axis=0)
    counts = np.bincount(labels, minlength=c)
    rest = jax.numpy.asarray(labels), jax.numpy.asarray(counts, np.float32), 1e-4, c
    exact = [
        np.linalg.slogdet(
            np.eye(30) + centered[labels == k].T.astype(np.float64) @ centered[labels == k] / (counts[k] * 1e-4)
        )[1]
        for k in range(c)
    ]
    gram = jax.numpy.asarray(centered @ centered.T)
    np.testing.assert_allclose(_transrate._class_log_dets_by_rows(gram, *rest), exact, rtol=1e-3)
    np.testing.assert_allclose(
        _transrate._class_log_dets_by_columns(jax.numpy.asarray(centered), *rest), exact, rtol=1e-3
    )


def test_transrate_matches_reference_with_an_absent_class():
    features, _, labels, c = _problem(seed=4)
    labels = np.where(labels == 3, 2, labels)  # class 3 absent: averaged over the 3 classes present
    value = float(estimators.transrate(features, labels, c))
    assert value == pytest.approx(reference.transrate(features, labels, c), rel=1e-4)


@pytest.mark.parametrize("gaussian", ["spherical", "diagonal"])
def test_gbc_matches_reference_below_64_dimensions(gaussian):
    features, _, labels, c = _problem(seed=5, n=30, d=12)  # min(N, D) < 64: the release's PCA would fail
    value = float(estimators.gbc(features, labels, c, gaussian=gaussian))
    assert value == pytest.approx(reference.gbc(features, labels, c, gaussian=gaussian), rel=1e-4)


def test_softmax_regression_reaches_the_optimum_in_training_coordinates():
    """The fit in Gram coordinates (rows < D) has the loss of the converged full-space fit, and the
    coordinates of other rows reproduce their products with the training rows."""
    from scipy import optimize, special

    features, _, labels, c = _problem(seed=6, n=30, d=50)
    train, others = features[:20] - features[:20].mean(axis=0), features[20:]
    coordinates, other_coordinates = _softmax_regression.training_coordinates(train, others)
    np.testing.assert_allclose(coordinates @ coordinates.T, train @ train.T, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(other_coordinates @ coordinates.T, others @ train.T, rtol=1e-4, atol=1e-3)
    l2 = 0.05
    fit = _softmax_regression.fit(coordinates, labels[:20], np.ones(20, np.float32), num_classes=c, l2=l2)
    x, one_hot = train.astype(np.float64), np.eye(c)[labels[:20]]

    def loss(theta):
        w, b = theta[:-c].reshape(50, c), theta[-c:]
        log_p = special.log_softmax(x @ w + b, axis=1)
        return -np.sum(one_hot * log_p) / 20 + l2 / 2 * np.sum(w * w)

    best = optimize.minimize(loss, np.zeros(51 * c), method="L-BFGS-B", options=dict(maxiter=5000), tol=1e-12)
    assert float(fit.loss) == pytest.approx(best.fun, rel=1e-4)
    assert int(fit.steps) < _softmax_regression.MAX_STEPS  # stopped by its tolerance, not by the cap


def test_rankme_ignores_labels_but_checks_their_length():
    features, _, labels, c = _problem(seed=7)
    assert float(estimators.rankme(features)) == pytest.approx(float(estimators.rankme(features, labels, c)))
    with pytest.raises(ValueError, match="rows but labels has"):
        estimators.rankme(features, labels[:-1])


def test_registered_with_their_functions():
    for name in NAMES:
        assert estimators.get(name) is getattr(estimators, name)
        assert estimators.spec(name).name == name


def test_costs_and_errors_say_lower_is_better():
    lower = {n for n in estimators.names() if not estimators.spec(n).higher_is_better}
    assert lower == {"pactran_dirichlet", "pactran_gamma", "pactran_gaussian", "linear_valerr"}


BAD_INPUTS = [
    ("gbc", {"gaussian": "full"}, "gaussian must be one of"),
    ("transrate", {"eps": 0.0}, "eps must be a float > 0"),
    ("pactran_gaussian", {"lam": -1.0}, "lam must be a number > 0"),
    ("pactran_gaussian", {"sigma2": "big"}, "sigma2 must be a number > 0"),
    ("pactran_gaussian", {"max_steps": 0}, "max_steps must be None or an int >= 1"),
    ("linear_valerr", {"lam": 0}, "lam must be a number > 0"),
    ("linear_probe", {"folds": 1}, "folds must be an int >= 2"),
    ("linear_probe", {"seed": 0.5}, "seed must be an int"),
]


@pytest.mark.parametrize("name,opts,message", BAD_INPUTS)
def test_bad_options_raise(name, opts, message):
    features, _, labels, c = _problem()
    with pytest.raises(ValueError, match=message):
        estimators.get(name)(features, labels, c, **opts)


def test_linear_valerr_refuses_a_class_sorted_probe():
    features, _, labels, c = _problem()
    order = np.argsort(labels, kind="stable")
    with pytest.raises(ValueError, match="shuffle the probe set"):
        estimators.linear_valerr(features[order][:24], np.sort(labels)[:24] * 0 + np.arange(24) // 12 * 3, c)


def test_linear_probe_needs_two_classes_with_a_sample_per_fold():
    features, _, labels, c = _problem()
    labels = np.where(np.arange(len(labels)) < 2, 1, 0)  # class 1 has 2 samples < 3 folds
    with pytest.raises(ValueError, match="at least 2 classes with 3 or more samples"):
        estimators.linear_probe(features, labels, c)


@pytest.mark.parametrize("name", NAMES)
def test_bad_labels_and_values_raise(name):
    features, probs, labels, c = _problem()
    x = _small_input(name, features, probs)
    if name != "rankme":
        with pytest.raises(ValueError, match="labels must be in"):
            estimators.get(name)(x, np.where(labels == 0, c, labels), c)
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        estimators.get(name)(bad, labels, c)
