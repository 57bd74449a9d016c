"""The PARC release's other methods (RSA, DDS, split kNN, split logistic, n_dims and cosine variants)
agree in float32 with the float64 goldens of tests/data/golden/SEED_METHODS.md, within its tolerances;
their bank, jit and input-check behaviour matches the other estimators'."""

import jax
import numpy as np
import pytest

from parc_jax import estimators
from parc_jax.estimators import _engine, _knn, reference

# (golden key, estimator, options, tolerance kind) -- tolerances from SEED_METHODS.md.
CASES = [
    ("rsa", "rsa", {}, "similarity"),
    ("rsa_f32_exact_pca", "rsa", {"n_dims": 32}, "similarity"),
    ("dds", "dds", {}, "similarity"),
    ("dds_f32_exact_pca", "dds", {"n_dims": 32}, "similarity"),
    ("split_knn1", "split_knn", {"k": 1}, "one_test_sample"),
    ("split_knn5", "split_knn", {"k": 5}, "one_test_sample"),
    ("split_logistic_converged", "split_logistic", {}, "one_test_sample"),
    ("knn1_f32_exact_pca", "knn", {"k": 1, "n_dims": 32}, "one_sample"),
    ("knn5_f32_exact_pca", "knn", {"k": 5, "n_dims": 32}, "one_sample"),
    ("knn1_cosine", "knn", {"k": 1, "metric": "cosine"}, "one_sample"),
    ("knn5_cosine", "knn", {"k": 5, "metric": "cosine"}, "one_sample"),
    ("knn1_cosine_f32_exact_pca", "knn", {"k": 1, "metric": "cosine", "n_dims": 32}, "one_sample"),
    ("knn5_cosine_f32_exact_pca", "knn", {"k": 5, "metric": "cosine", "n_dims": 32}, "one_sample"),
    ("hscore_f32_exact_pca", "hscore", {"n_dims": 32}, "relative"),
]
NEW_NAMES = ["rsa", "dds", "split_knn", "split_logistic"]


@pytest.fixture(scope="module")
def golden(golden_cases):
    return golden_cases("seed_public.json")


def _call(name, case, **opts):
    if estimators.spec(name).target == "reference":
        return estimators.get(name)(case["features"], case["reference_features"], **opts)
    return estimators.get(name)(case["features"], case["labels"], case["num_classes"], **opts)


def _tolerance(kind, n):
    return {
        "similarity": 0.01,
        "one_test_sample": 100 / (n // 2) + 1e-4,  # "exact; else at most one test sample"
        "one_sample": 100 / n + 1e-4,
    }[kind]


@pytest.mark.parametrize("case_index", range(4))
@pytest.mark.parametrize("key,name,opts,kind", CASES)
def test_matches_golden(golden, case_index, key, name, opts, kind):
    case = golden[case_index]
    value = float(_call(name, case, **opts))
    expected = case["reference"][key]
    if kind == "relative":
        assert value == pytest.approx(expected, rel=1e-4)
    else:
        assert abs(value - expected) <= _tolerance(kind, len(case["labels"]))


def test_golden_cases_cover_unseen_classes_and_two_classes(golden):
    """Public case 2 has test classes missing from the training half, case 3 two classes."""
    labels = golden[2]["labels"]
    half = len(labels) // 2
    assert not set(labels[half:]) <= set(labels[:half])
    assert golden[3]["num_classes"] == 2


@pytest.mark.parametrize(
    "key,name,opts,cases",
    [
        ("rsa", "rsa", {}, range(4)),
        ("rsa_f32_exact_pca", "rsa", {"n_dims": 32}, range(4)),
        ("dds", "dds", {}, range(4)),
        ("dds_f32_exact_pca", "dds", {"n_dims": 32}, range(4)),
        ("split_knn5", "split_knn", {"k": 5}, (0, 2, 3)),
        ("split_logistic_converged", "split_logistic", {}, (0, 3)),  # cases 1, 2 take 10-30 s in float64
    ],
)
def test_float64_reference_matches_golden(golden, key, name, opts, cases):
    for index in cases:
        case = golden[index]
        if estimators.spec(name).target == "reference":
            value = reference.FUNCTIONS[name](case["features"], case["reference_features"], **opts)
        else:
            value = reference.FUNCTIONS[name](case["features"], case["labels"], case["num_classes"], **opts)
        assert value == pytest.approx(case["reference"][key], abs=1e-6)


def _problem(seed=0, n=60, d=24, c=4):
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % c).astype(np.int32)
    rng.shuffle(labels)
    centers = rng.normal(size=(c, d))
    features = (centers[labels] + 1.5 * rng.normal(size=(n, d))).astype(np.float32)
    reference_features = (centers[labels] @ rng.normal(size=(d, 16)) + rng.normal(size=(n, 16))).astype(np.float32)
    return features, labels, c, reference_features


def _target(name, labels, c, reference_features):
    return (reference_features,) if estimators.spec(name).target == "reference" else (labels, c)


@pytest.mark.parametrize("name", NEW_NAMES)
def test_jit_and_no_jit_agree(name):
    features, labels, c, ref = _problem(n=24, d=8, c=3)  # eager while loops dispatch op by op
    jitted = float(estimators.get(name)(features, *_target(name, labels, c, ref)))
    with jax.disable_jit():
        eager = float(estimators.get(name)(features, *_target(name, labels, c, ref)))
    assert jitted == pytest.approx(eager, rel=1e-4, abs=1e-4)


@pytest.mark.parametrize("name", NEW_NAMES)
def test_inside_a_users_jit(name):
    features, labels, c, ref = _problem(seed=6)
    target = _target(name, labels, c, ref)
    traced = float(jax.jit(lambda v: estimators.get(name)(v, *target))(features))
    assert float(estimators.get(name)(features, *target)) == pytest.approx(traced, rel=1e-4, abs=1e-4)


@pytest.mark.parametrize("name", NEW_NAMES)
def test_one_trace_per_shape(name):
    """New features, labels and reference values of the same shapes reuse the compiled program."""
    spec = estimators.spec(name)
    traces = []

    def counting_kernel(*args, **kwargs):
        traces.append(1)
        return spec.kernel(*args, **kwargs)

    counted = _engine.EstimatorSpec(
        spec.name, spec.input_kind, spec.prepare, counting_kernel, spec.min_cols, target=spec.target
    )
    for seed in range(3):
        features, labels, c, ref = _problem(seed=seed)
        target = _target(name, labels, c, ref)
        _engine.run(counted, features, *target, *([None] if len(target) == 1 else []))
    assert len(traces) == 1


@pytest.mark.parametrize(
    "name,opts",
    [
        ("rsa", {}),
        ("rsa", {"n_dims": 8}),
        ("dds", {}),
        ("dds", {"n_dims": 8}),
        ("split_knn", {"k": 3}),
        ("split_logistic", {}),
    ],
)
def test_matches_float64_reference(name, opts):
    features, labels, c, ref = _problem(seed=4, n=80, d=40, c=5)
    ours = float(estimators.get(name)(features, *_target(name, labels, c, ref), **opts))
    theirs = reference.FUNCTIONS[name](features, *_target(name, labels, c, ref), **opts)
    assert ours == pytest.approx(theirs, rel=1e-3, abs=1e-3)


@pytest.mark.parametrize("name", NEW_NAMES)
def test_score_bank_equals_single_calls(name):
    problems = [_problem(seed=s) for s in range(3)]
    _, labels, c, ref = problems[0]
    xs = [p[0] for p in problems]
    target = _target(name, labels, c, ref)
    single = np.array([float(estimators.get(name)(x, *target)) for x in xs])
    stacked = np.asarray(estimators.score_bank(name, np.stack(xs), *target))
    mixed = np.asarray(estimators.score_bank(name, [xs[0], xs[1][:, :10], xs[2]], *target))
    np.testing.assert_allclose(stacked, single, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(mixed[[0, 2]], single[[0, 2]], rtol=1e-4, atol=1e-4)
    assert mixed[1] == pytest.approx(float(estimators.get(name)(xs[1][:, :10], *target)), rel=1e-4, abs=1e-4)


@pytest.mark.parametrize("name,opts", [("knn", {"k": 3}), ("logme", {}), ("hscore", {}), ("split_knn", {"k": 3})])
def test_n_dims_is_the_estimator_on_the_exact_pca_scores(name, opts):
    """n_dims=f equals the float64 estimator on the float64 exact PCA scores (sign rule included)."""
    features, labels, c, _ = _problem(seed=7, n=80, d=40, c=5)
    pca = reference._pca(features, 12)
    ours = float(estimators.get(name)(features, labels, c, n_dims=12, **opts))
    assert ours == pytest.approx(reference.FUNCTIONS[name](pca, labels, c, **opts), rel=1e-3, abs=1e-3)
    assert ours != pytest.approx(float(estimators.get(name)(features, labels, c, **opts)), rel=1e-3, abs=1e-3)


@pytest.mark.parametrize("name", ["rsa", "dds"])
def test_n_dims_clamps_features_and_reference_separately(name):
    """A 6-dim model against a 16-dim reference at n_dims=12: the model keeps its 6 dims (a rotation),
    the reference is reduced to 12."""
    features, labels, c, ref = _problem(seed=14, n=40, d=6)
    ours = float(estimators.get(name)(features, ref, n_dims=12))
    theirs = reference.FUNCTIONS[name](reference._pca(features, 6), reference._pca(ref, 12))
    assert ours == pytest.approx(theirs, rel=1e-3, abs=1e-3)


def test_rsa_and_dds_of_a_model_with_itself():
    features, *_ = _problem(seed=8)
    assert float(estimators.rsa(features, features)) == pytest.approx(100.0, abs=1e-3)
    assert float(estimators.dds(features, features)) == pytest.approx(100.0, abs=1e-3)


def test_cosine_embedding_distances_order_as_cosine_distances():
    """Squared distances of the embedding are 2 x (1 - cos), all-zero rows at cosine distance 1."""
    rng = np.random.default_rng(9)
    x = rng.normal(size=(6, 5)).astype(np.float32)
    x[3] = 0.0
    points = np.asarray(_knn.cosine_embedding(x), np.float64)
    squared = np.sum((points[:, None] - points[None]) ** 2, axis=2)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    unit = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    cosine_distance = 1 - unit @ unit.T
    off_diagonal = ~np.eye(6, dtype=bool)
    np.testing.assert_allclose(squared[off_diagonal], 2 * cosine_distance[off_diagonal], atol=1e-5)


def test_knn_cosine_ignores_row_scale_and_euclidean_does_not():
    features, labels, c, _ = _problem(seed=10, n=80, d=6, c=5)
    scaled = features * np.random.default_rng(0).uniform(0.01, 100, size=(80, 1)).astype(np.float32)
    cosine = float(estimators.knn(features, labels, c, k=3, metric="cosine"))
    assert float(estimators.knn(scaled, labels, c, k=3, metric="cosine")) == pytest.approx(cosine)
    euclidean = float(estimators.knn(features, labels, c, k=3))
    assert float(estimators.knn(scaled, labels, c, k=3)) != pytest.approx(euclidean)


def test_split_uses_the_first_half_in_order():
    """Trained on the first half only: with that half's labels swapped every test sample is wrong."""
    n, d = 40, 8
    labels = np.tile(np.arange(2, dtype=np.int32), n // 2)
    noise = np.random.default_rng(13).normal(size=(n, d))
    clean = (np.where(labels[:, None] == 0, 5.0, -5.0) + noise).astype(np.float32)
    assert float(estimators.split_knn(clean, labels, 2)) == 100.0
    assert float(estimators.split_logistic(clean, labels, 2)) == 100.0
    swapped = labels.copy()
    swapped[: n // 2] = 1 - swapped[: n // 2]  # training half labelled the other way round
    assert float(estimators.split_knn(clean, swapped, 2)) == 0.0
    assert float(estimators.split_logistic(clean, swapped, 2)) == 0.0


def test_registry_holds_the_seed_methods():
    for name in NEW_NAMES:
        assert estimators.get(name) is getattr(estimators, name)
    assert estimators.spec("rsa").target == "reference" and estimators.spec("split_knn").target == "labels"


F, Y, C, REF = _problem(seed=12, n=30, d=6)

BAD = [
    ("rsa", (F, REF[:-1]), {}, "rows but reference_features has 29"),
    ("rsa", (F, REF[:, 0]), {}, "reference_features must have shape"),
    ("rsa", (F, np.where(np.arange(16) == 3, np.nan, REF)), {}, "NaN or inf"),
    ("dds", (F[0], REF), {}, "2-D"),
    ("dds", (F, REF), {"n_dims": 1}, "n_dims"),
    ("split_knn", (F, Y, C), {"k": 16}, "k must be"),
    ("split_logistic", (F, Y, C), {"n_dims": 0}, "n_dims"),
    ("knn", (F, Y, C), {"metric": "manhattan"}, "metric"),
    ("logme", (F, Y, C), {"n_dims": 1.5}, "n_dims"),
    ("hscore", (F, Y, C), {"n_dims": True}, "n_dims"),
]


@pytest.mark.parametrize("name,args,opts,message", BAD)
def test_bad_input_raises_before_compiling(name, args, opts, message):
    before = _engine.compiled.cache_info().currsize
    with pytest.raises(ValueError, match=message):
        estimators.get(name)(*args, **opts)
    assert _engine.compiled.cache_info().currsize == before


def test_knn_blocked_path_takes_cosine_and_n_dims():
    features, labels, c, _ = _problem(seed=15, n=80, d=12, c=5)
    opts = dict(k=3, metric="cosine", n_dims=6)
    dense = float(estimators.knn(features, labels, c, method="dense", **opts))
    blocked = float(estimators.knn(features, labels, c, method="blocked", block_size=16, **opts))
    assert blocked == pytest.approx(dense, rel=1e-6)
    assert dense != pytest.approx(float(estimators.knn(features, labels, c, method="dense", k=3)), rel=1e-6)
