"""Estimator properties: compiled path, batching, invariances, references and input errors."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parc_jax import estimators
from parc_jax.estimators import _engine, _validation, reference

NAMES = ["parc", "logme", "leep", "nce", "hscore", "knn"]
SEED_METHOD_NAMES = ["rsa", "dds", "split_knn", "split_logistic"]  # tests/test_estimators_seed_methods.py


def _problem(seed=0, n=60, d=24, c=4, z=7):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % c
    rng.shuffle(labels)
    centers = rng.normal(size=(c, d))
    features = (centers[labels] + rng.normal(size=(n, d))).astype(np.float32)
    logits = rng.normal(size=(n, z)) + 2 * np.eye(z)[labels % z]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return features, probs.astype(np.float32), labels.astype(np.int32), c


def _input(name, features, probs):
    return probs if estimators.spec(name).input_kind == "probs" else features


@pytest.mark.parametrize("name", NAMES)
def test_inside_a_users_jit_then_eager_again(name):
    """Under a user's jit the labels are prepared inside the trace; nothing of that trace is kept
    (an eager call with the same labels afterwards works and agrees)."""
    features, probs, labels, c = _problem(seed=6)
    x = _input(name, features, probs)
    traced = float(jax.jit(lambda v: estimators.get(name)(v, labels, c))(x))
    assert float(estimators.get(name)(x, labels, c)) == pytest.approx(traced, rel=1e-4, abs=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_jit_and_no_jit_agree(name):
    features, probs, labels, c = _problem()
    x = _input(name, features, probs)
    jitted = float(estimators.get(name)(x, labels, c))
    with jax.disable_jit():
        eager = float(estimators.get(name)(x, labels, c))
    assert jitted == pytest.approx(eager, rel=1e-4, abs=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_one_trace_per_shape(name):
    """New values of the same shapes (labels included) reuse the compiled program."""
    spec = estimators.spec(name)
    traces = []

    def counting_kernel(*args, **kwargs):
        traces.append(1)
        return spec.kernel(*args, **kwargs)

    counted = dataclasses.replace(spec, kernel=counting_kernel)
    for seed in range(3):
        features, probs, labels, c = _problem(seed=seed)
        _engine.run(counted, _input(name, features, probs), labels, c)
    assert len(traces) == 1


@pytest.mark.parametrize("name", ["parc", "knn", "logme", "hscore", "leep", "nce"])
def test_invariant_to_sample_order(name):
    features, probs, labels, c = _problem(seed=1)
    order = np.random.default_rng(5).permutation(len(labels))
    f = estimators.get(name)
    x = _input(name, features, probs)
    assert float(f(x[order], labels[order], c)) == pytest.approx(float(f(x, labels, c)), rel=1e-4, abs=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_invariant_to_renaming_classes(name):
    features, probs, labels, c = _problem(seed=2)
    renamed = np.array([2, 0, 3, 1])[labels]
    f = estimators.get(name)
    x = _input(name, features, probs)
    assert float(f(x, renamed, c)) == pytest.approx(float(f(x, labels, c)), rel=1e-4, abs=1e-4)


def test_leep_invariant_to_permuting_source_classes():
    _, probs, labels, c = _problem(seed=3)
    order = np.random.default_rng(0).permutation(probs.shape[1])
    assert float(estimators.leep(probs[:, order], labels, c)) == pytest.approx(
        float(estimators.leep(probs, labels, c)), rel=1e-5
    )


@pytest.mark.parametrize(
    "name,opts",
    [
        ("parc", {}),
        ("parc", {"n_dims": 8}),
        ("logme", {}),
        ("leep", {}),
        ("nce", {}),
        ("nce", {"eps": 1e-5}),
        ("hscore", {}),
        ("hscore", {"shrinkage": True}),
        ("knn", {"k": 1}),
        ("knn", {"k": 5}),
    ],
)
def test_matches_float64_reference(name, opts):
    """Independent dense float64 NumPy/SciPy implementations (the benchmark's baseline) agree."""
    features, probs, labels, c = _problem(seed=4, n=80, d=40, c=5)
    x = _input(name, features, probs)
    ours = float(estimators.get(name)(x, labels, c, **opts))
    theirs = reference.FUNCTIONS[name](x, labels, c, **opts)
    if name == "knn":
        assert ours == pytest.approx(theirs, rel=1e-6)
    else:
        assert ours == pytest.approx(theirs, rel=1e-3, abs=1e-3)


@pytest.mark.parametrize("name", NAMES)
def test_score_bank_equals_single_calls(name):
    problems = [_problem(seed=s) for s in range(3)]
    labels, c = problems[0][2], problems[0][3]
    xs = [_input(name, f, p) for f, p, _, _ in problems]
    single = np.array([float(estimators.get(name)(x, labels, c)) for x in xs])
    stacked = np.asarray(estimators.score_bank(name, np.stack(xs), labels, c))
    on_device = np.asarray(estimators.score_bank(name, jnp.asarray(np.stack(xs)), labels, c))
    np.testing.assert_allclose(stacked, single, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(on_device, single, rtol=1e-4, atol=1e-4)


def test_prepared_labels_are_reused_by_content_only():
    """Label preparation is cached by value: labels changed in place are prepared again, and an
    option equal but of another type (5.0 for 5, True for 1) is still checked and rejected."""
    _, probs, labels, c = _problem(seed=4)
    labels = labels.copy()
    first = float(estimators.leep(probs, labels, c))
    assert float(estimators.leep(probs, labels, c)) == first
    labels[:10] = (labels[:10] + 1) % c
    assert float(estimators.leep(probs, labels, c)) == pytest.approx(reference.leep(probs, labels, c), rel=1e-5)
    assert float(estimators.leep(probs, labels, c)) != pytest.approx(first, rel=1e-5)
    with pytest.raises(ValueError, match="num_classes must be an int"):
        estimators.leep(probs, labels, float(c))
    features = _problem(seed=4)[0]
    estimators.knn(features, labels, c, k=1)
    with pytest.raises(ValueError, match="k"):
        estimators.knn(features, labels, c, k=True)


@pytest.mark.parametrize("n", [3, 4, 7, 50, 300])
def test_upper_triangle_pairs_hold_every_pair_once(n):
    from parc_jax.estimators import _parc, _stats

    unit = _stats.unit_rows(jnp.asarray(np.random.default_rng(n).normal(size=(n, 6)), jnp.float32))
    blocks, edges = _stats.row_blocks(unit, 2)
    assert len(blocks) == 2 and edges == [0, n // 2, n]
    values, rows, cols, valid = map(np.asarray, _parc.upper_triangle_pairs(unit))
    assert sorted(zip(rows[valid], cols[valid])) == sorted(zip(*np.triu_indices(n, 1)))
    u = np.asarray(unit, np.float64)
    np.testing.assert_allclose(values[valid], -np.sum(u[rows[valid]] * u[cols[valid]], axis=1), atol=1e-6)


@pytest.mark.parametrize("n", [1, 2, 40, 300, 1000])
def test_gram_is_the_product_and_exactly_symmetric(n):
    from parc_jax.estimators import _stats

    x = np.random.default_rng(n).normal(size=(n, 9)).astype(np.float32)
    product = np.asarray(_stats.gram(jnp.asarray(x)))
    np.testing.assert_array_equal(product, product.T)
    np.testing.assert_allclose(product, x.astype(np.float64) @ x.T.astype(np.float64), rtol=1e-5, atol=1e-5)


def test_sort_floats_orders_as_numpy_bit_for_bit():
    from parc_jax.estimators import _stats

    rng = np.random.default_rng(3)
    tiny = np.finfo(np.float32).smallest_subnormal
    special = [0.0, -0.0, np.inf, -np.inf, tiny, -tiny, 1e-40, -1e-40, np.finfo(np.float32).max]
    values = np.concatenate([rng.normal(size=500) * 10.0 ** rng.integers(-30, 30, 500), special, special])
    values = rng.permutation(values).astype(np.float32)
    expected = values[np.lexsort((~np.signbit(values), values))]  # by value, -0.0 before 0.0
    got = np.asarray(_stats.sort_floats(jnp.asarray(values)))
    np.testing.assert_array_equal(got.view(np.int32), expected.view(np.int32))


@pytest.mark.parametrize("n,c", [(500, 37), (7, 3), (300, 100), (11, 2)])
def test_class_slots_hold_every_row_once_with_its_class(n, c):
    from parc_jax.estimators._leep import class_slots

    rng = np.random.default_rng(n)
    for labels in (rng.integers(0, c, n), np.minimum(rng.geometric(0.3, n) - 1, c - 1)):  # even, skewed
        slots, slot_class = class_slots(labels, c)
        assert slots.shape == (-(-n // c), 2 * c)
        filled = slots < n
        assert sorted(slots[filled]) == list(range(n))
        np.testing.assert_array_equal(
            labels[np.where(filled, slots, 0)][filled], np.broadcast_to(slot_class, slots.shape)[filled]
        )


@pytest.mark.parametrize("c", [5, 100])
@pytest.mark.parametrize("backend", ["cpu", "gpu"])
def test_leep_joint_by_class_slots_and_by_product(c, backend, monkeypatch, request):
    """The joint by slots of class rows (CPU) and by a one-hot product (accelerators, forced here) both
    match the reference, with balanced and very imbalanced classes, alone and in banks of 1 and 3."""
    from parc_jax.estimators import reference

    monkeypatch.setattr(_engine.jax, "default_backend", lambda: backend)
    _engine.compiled.cache_clear()  # programs are traced per backend choice
    request.addfinalizer(_engine.compiled.cache_clear)
    problems = [_problem(seed=s, n=300, c=c, z=40) for s in range(3)]
    labels = problems[0][2].copy()
    labels[:150] = 1  # one class holds half the probe set: it fills many slots
    bank = np.stack([p for _, p, _, _ in problems])
    expected = [reference.leep(p, labels, c) for p in bank]
    assert float(estimators.leep(bank[0], labels, c)) == pytest.approx(expected[0], rel=1e-5)
    np.testing.assert_allclose(np.asarray(estimators.score_bank("leep", bank, labels, c)), expected, rtol=1e-5)


@pytest.mark.parametrize("step", [1, 2, 3, 8])
def test_map_in_steps_covers_every_model_once(step):
    """Full steps, a remainder of one (run unbatched) and of several (vmapped) all land in place."""
    xs = jnp.arange(7 * 3, dtype=jnp.float32).reshape(7, 3)
    for m in range(1, 8):
        out = jax.jit(lambda a: _engine.map_in_steps(lambda x: x @ jnp.array([1.0, 10.0, 100.0]), a, step))(xs[:m])
        np.testing.assert_array_equal(np.asarray(out), np.asarray(xs[:m]) @ np.array([1.0, 10.0, 100.0]))


def test_models_per_step_is_cache_sized_on_cpu_and_memory_sized_on_accelerators(monkeypatch):
    """N = 500, D = 2048 features: 2 models per step on a CPU, 262 (1 GiB of float32) on a GPU/TPU."""
    monkeypatch.setattr(_engine.jax, "default_backend", lambda: "cpu")
    assert _engine.models_per_step(500, 2048, "features") == 2
    assert _engine.models_per_step(500, 1000, "probs") == 1
    assert _engine.models_per_step(500, 100, "probs") == 10
    assert _engine.models_per_step(20000, 2048, "features") == 1
    monkeypatch.setattr(_engine.jax, "default_backend", lambda: "gpu")
    assert _engine.models_per_step(500, 2048, "features") == 262
    assert _engine.models_per_step(500, 1000, "probs") == 536


def test_score_bank_mixed_feature_dims():
    rng = np.random.default_rng(0)
    labels = np.arange(50) % 3
    bank = [rng.normal(size=(50, d)).astype(np.float32) + labels[:, None] for d in (8, 16, 8, 32)]
    scores = np.asarray(estimators.score_bank("parc", bank, labels, 3, n_dims=4))
    single = [float(estimators.parc(x, labels, 3, n_dims=4)) for x in bank]
    np.testing.assert_allclose(scores, single, rtol=1e-4, atol=1e-4)  # padded to 32 columns: PCA of another size


def test_parc_rank_sum_handles_ties_from_duplicated_samples():
    """Duplicated probe images make many equal dissimilarities; the rank-sum form stays exact."""
    from scipy import stats

    rng = np.random.default_rng(7)
    base = rng.normal(size=(40, 12)).astype(np.float32)
    features = np.concatenate([base, base[:25], base[:10]])
    labels = np.concatenate([np.arange(40) % 4, np.arange(25) % 4, np.arange(10) % 4])
    x = (features - features.mean(0)) / features.std(0)
    rdm = 1 - np.corrcoef(x.astype(np.float64))
    rows, cols = np.triu_indices(len(labels), 1)
    label_rdm = (labels[:, None] != labels[None, :]).astype(float)
    expected = 100 * stats.spearmanr(np.round(rdm[rows, cols], 6), label_rdm[rows, cols])[0]
    assert float(estimators.parc(features, labels, 4)) == pytest.approx(expected, abs=0.05)


def test_parc_groups_either_way_agree_with_scipy():
    """Few classes (different-class pairs fewer than same-class) and many classes both match."""
    for c in (2, 9):
        features, _, labels, _ = _problem(seed=c, n=70, d=10, c=c)
        if c == 2:  # make one class dominant: same-class pairs outnumber the others
            labels = (np.arange(70) % 7 == 0).astype(np.int32)
        assert float(estimators.parc(features, labels, c)) == pytest.approx(
            reference.parc(features, labels, c), abs=1e-3
        )


def test_parc_multi_hot_labels():
    rng = np.random.default_rng(3)
    multi_hot = (rng.random((60, 6)) < 0.4).astype(np.int32)
    multi_hot[multi_hot.sum(1) == 0, 0] = 1
    multi_hot[multi_hot.sum(1) == 6, 0] = 0
    features = (multi_hot @ rng.normal(size=(6, 16)) + rng.normal(size=(60, 16))).astype(np.float32)
    assert float(estimators.parc(features, multi_hot, 6)) == pytest.approx(
        reference.parc(features, multi_hot, 6), abs=0.05
    )


def test_logme_regression_targets():
    features, _, labels, _ = _problem(seed=6, n=90, d=30)
    rng = np.random.default_rng(1)
    targets = (features @ rng.normal(size=(30, 3)) + rng.normal(size=(90, 3))).astype(np.float32)
    assert float(estimators.logme(features, targets, None)) == pytest.approx(
        reference.logme(features, targets, None), rel=1e-3
    )


@pytest.mark.parametrize("n,d", [(80, 200), (200, 20)])
def test_logme_and_hscore_take_the_cheap_path_for_either_shape(n, d):
    features, _, labels, c = _problem(seed=8, n=n, d=d)
    assert float(estimators.logme(features, labels, c)) == pytest.approx(reference.logme(features, labels, c), rel=1e-3)
    assert float(estimators.hscore(features, labels, c)) == pytest.approx(
        reference.hscore(features, labels, c), rel=1e-3
    )


def test_computed_unless_runs_the_fallback_only_where_needed():
    """One model: a cond. A bank: the fallback runs for the models that are not ok, none if all are."""
    calls = []

    def fallback(x, scale):
        jax.debug.callback(lambda: calls.append(1))
        return -jnp.sum(x) * scale

    def one(ok, x):
        return _engine.computed_unless(ok, jnp.sum(x), fallback, x, jnp.float32(2.0))

    xs = jnp.arange(12.0).reshape(4, 3)
    sums = np.asarray(xs).sum(axis=1)
    ok = np.array([True, False, True, False])
    out = jax.jit(jax.vmap(one))(jnp.asarray(ok), xs)
    np.testing.assert_array_equal(np.asarray(out), np.where(ok, sums, -2 * sums))
    assert len(calls) == 2
    calls.clear()
    np.testing.assert_array_equal(np.asarray(jax.jit(jax.vmap(one))(jnp.ones(4, bool), xs)), sums)
    assert calls == []
    assert float(jax.jit(one)(False, xs[1])) == -2 * sums[1] and calls == [1]


def test_hscore_bank_mixes_full_span_and_rank_deficient_models():
    """N <= D: a model whose centred features span 1-perp gets the closed form (C - 1 for the classes
    present), one of lower rank (duplicated samples, 5 underlying dimensions) the SVD; in one bank
    both agree with the float64 reference."""
    from parc_jax.estimators import _hscore, _stats

    rng = np.random.default_rng(3)
    n, d, c = 40, 64, 4
    labels = np.arange(n) % c
    full = rng.normal(size=(n, d)) + labels[:, None]
    duplicated = rng.normal(size=(n, d)) + labels[:, None]
    duplicated[1::2] = duplicated[0::2]
    low_rank = rng.normal(size=(n, 5)) @ rng.normal(size=(5, d))
    bank = np.stack([full, duplicated, low_rank, full[::-1]]).astype(np.float32)
    certified = [bool(_hscore.centred_span_is_full(_stats.standardize_columns(x))) for x in bank]
    assert certified == [True, False, False, True]
    expected = [reference.hscore(x, labels, c) for x in bank]
    assert expected[0] == pytest.approx(c - 1) and expected[1] < c - 1.5
    np.testing.assert_allclose(np.asarray(estimators.score_bank("hscore", bank, labels, c)), expected, rtol=1e-3)
    assert float(estimators.hscore(bank[2], labels, c)) == pytest.approx(expected[2], rel=1e-3)
    two_present = np.arange(n) % 2  # classes 2 and 3 absent: the closed form counts present classes only
    assert float(estimators.hscore(bank[0], two_present, c)) == pytest.approx(reference.hscore(bank[0], two_present, c))
    assert reference.hscore(bank[0], two_present, c) == pytest.approx(1.0)


def test_hscore_shrinkage_matches_sklearn_ledoit_wolf():
    from sklearn.covariance import LedoitWolf

    features, _, labels, c = _problem(seed=9, n=50, d=120)
    f = features.astype(np.float64) - features.mean(0)
    fit = LedoitWolf(assume_centered=False).fit(f)
    one_hot = np.eye(c)[labels]
    g = one_hot @ ((one_hot.T @ f) / one_hot.sum(0)[:, None])
    expected = np.trace(np.linalg.pinv(fit.covariance_) @ ((1 - fit.shrinkage_) * np.cov(g, rowvar=False)))
    assert float(estimators.hscore(features, labels, c, shrinkage=True)) == pytest.approx(expected, rel=1e-3)


def test_knn_breaks_distance_ties_by_index_and_counts_split_votes():
    features = np.array([[0.0], [1.0], [-1.0], [10.0], [11.0], [9.0]], np.float32)
    labels = np.array([0, 1, 0, 1, 1, 0])
    # sample 0: neighbours 1 and 2 at distance 1 -> index 1 wins, label 1: wrong.
    value = float(estimators.knn(features, labels, 2, k=1))
    assert value == pytest.approx(reference.knn(features, labels, 2, k=1))
    assert float(estimators.knn(features, labels, 2, k=2)) == pytest.approx(reference.knn(features, labels, 2, k=2))


def test_registry():
    assert set(NAMES + SEED_METHOD_NAMES) <= set(estimators.names())  # the later ones have their own test modules
    for name in estimators.names():
        assert estimators.spec(name).name == name and callable(estimators.get(name))
        assert getattr(estimators, name) is estimators.get(name)
    assert estimators.get("parc") is estimators.parc
    with pytest.raises(ValueError, match="available: parc"):
        estimators.get("nope")


# ---------------------------------------------------------------------------------------------
# Bad input: a ValueError naming the problem, raised before anything is compiled.

GOOD_F, GOOD_P, GOOD_Y, GOOD_C = _problem(seed=11, n=30, d=6)


def _bad_nan_features():
    f = GOOD_F.copy()
    f[4, 2] = np.nan
    return f


def _bad_probs_sum():
    p = GOOD_P.copy()
    p[3] *= 2
    return p


BAD = [
    ("parc", (GOOD_F[0], GOOD_Y, GOOD_C), {}, "2-D"),
    ("parc", (GOOD_F, GOOD_Y[:-1], GOOD_C), {}, "rows"),
    ("parc", (GOOD_F, GOOD_Y + 10, GOOD_C), {}, r"in \[0, 4\)"),
    ("parc", (GOOD_F, GOOD_Y.astype(np.float32) + 0.5, GOOD_C), {}, "integers"),
    ("parc", (GOOD_F, np.zeros_like(GOOD_Y), GOOD_C), {}, "at least 2 classes"),
    ("parc", (GOOD_F, GOOD_Y, 1), {}, "num_classes"),
    ("parc", (_bad_nan_features(), GOOD_Y, GOOD_C), {}, "NaN or inf .*row 4"),
    ("parc", (GOOD_F[:2], GOOD_Y[:2], GOOD_C), {}, "at least 3"),
    ("parc", (GOOD_F, GOOD_Y, GOOD_C), {"n_dims": 1}, "n_dims"),
    ("parc", (GOOD_F[:4], np.array([0, 1, 2, 3]), GOOD_C), {}, "same class"),
    ("knn", (GOOD_F, GOOD_Y, GOOD_C), {"k": 30}, "k must be"),
    ("leep", (GOOD_P * np.nan, GOOD_Y, GOOD_C), {}, "NaN or inf"),
    ("leep", (_bad_probs_sum(), GOOD_Y, GOOD_C), {}, "sum to 1 .*row 3"),
    ("nce", (-GOOD_P, GOOD_Y, GOOD_C), {}, "non-negative"),
    ("nce", (GOOD_P, GOOD_Y, GOOD_C), {"eps": -1.0}, "eps"),
    ("logme", (GOOD_F, GOOD_Y, GOOD_C), {"bogus": 1}, "bogus"),
]


@pytest.mark.parametrize("name,args,opts,message", BAD)
def test_bad_input_raises_before_compiling(name, args, opts, message):
    before = _engine.compiled.cache_info().currsize
    with pytest.raises((ValueError, TypeError), match=message):
        estimators.get(name)(*args, **opts)
    assert _engine.compiled.cache_info().currsize == before


@pytest.mark.parametrize(
    "name,good,bad,message",
    [
        ("parc", GOOD_F, _bad_nan_features, "NaN or inf .*row 4"),
        ("leep", GOOD_P, _bad_probs_sum, "sum to 1 .*row 3"),
        ("nce", GOOD_P, lambda: -GOOD_P, "non-negative"),
    ],
)
def test_bad_values_caught_by_a_warm_program(name, good, bad, message):
    """Once a program has run for these shapes, its own row summary carries the value checks."""
    estimators.get(name)(good, GOOD_Y, GOOD_C)
    warm_shapes = {key[2] for key in _engine._warm_programs if key[0] is estimators.spec(name).kernel}
    assert (1, *good.shape) in warm_shapes
    with pytest.raises(ValueError, match=message):
        estimators.get(name)(bad(), GOOD_Y, GOOD_C)


def _probs_with(row: int, values) -> np.ndarray:
    p = GOOD_P.copy()
    p[row, : len(values)] = values
    return p


def _row_sums_to_one_with_a_negative() -> np.ndarray:
    p = GOOD_P.copy()
    p[5] = 0.0
    p[5, :2] = 1.5, -0.5
    return p


@pytest.mark.parametrize(
    "probs",
    [
        GOOD_P,
        _row_sums_to_one_with_a_negative(),
        _probs_with(2, [np.nan]),
        _probs_with(2, [np.inf]),
        _probs_with(2, [-np.inf]),
        _probs_with(2, [np.inf, -np.inf]),
        _bad_probs_sum(),
        GOOD_P * (1 + 2 * _validation.PROBS_SUM_TOLERANCE),
    ],
    ids=["good", "negative-summing-to-1", "nan", "inf", "-inf", "inf-and-minus-inf", "doubled-row", "sums-off"],
)
def test_in_program_probs_flag_agrees_with_the_row_checks(probs):
    """The bank program's one-pass flag is down exactly when `check_values` names a bad row."""
    flag = bool(jax.jit(_validation.kernel_summary, static_argnames="input_kind")(probs, input_kind="probs"))
    summary = jax.device_get(_validation.row_summary(jnp.asarray(probs), "probs"))
    try:
        _validation.check_values(summary, "probs", probs.shape)
        passes = True
    except ValueError:
        passes = False
    assert flag == passes


def test_negative_probability_caught_by_a_warm_program_even_if_the_row_sums_to_one():
    estimators.leep(GOOD_P, GOOD_Y, GOOD_C)
    with pytest.raises(ValueError, match="non-negative .*row 5"):
        estimators.leep(_row_sums_to_one_with_a_negative(), GOOD_Y, GOOD_C)


def test_bad_model_in_a_bank_is_named():
    bank = [GOOD_F, _bad_nan_features()]
    with pytest.raises(ValueError, match="features contains NaN or inf .*model 1, row 4"):
        estimators.score_bank("parc", bank, GOOD_Y, GOOD_C)
    with pytest.raises(ValueError, match="model 1, row 4"):
        estimators.score_bank("parc", np.stack(bank), GOOD_Y, GOOD_C)
    estimators.score_bank("parc", np.stack([GOOD_F, GOOD_F]), GOOD_Y, GOOD_C)  # warm: checks ride in the program
    with pytest.raises(ValueError, match="model 1, row 4"):
        estimators.score_bank("parc", np.stack(bank), GOOD_Y, GOOD_C)


@pytest.mark.parametrize("multi_hot", [False, True], ids=["int-labels", "multi-hot"])
def test_undefined_result_is_an_error_not_nan(multi_hot):
    features = np.ones_like(GOOD_F)  # no sample has any variation: every correlation is 0/0
    labels = np.eye(GOOD_C, dtype=np.int32)[GOOD_Y] if multi_hot else GOOD_Y
    with pytest.raises(ValueError, match="undefined"):
        estimators.parc(features, labels, GOOD_C)
