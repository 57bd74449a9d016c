"""Split kNN and split logistic regression: train on the first half of the probe set, test on the rest
(the PARC paper's held-out baselines, Bolya et al., NeurIPS 2021).

The split is the PARC release's `split_data`: train = the first N - floor(N / 2) samples in the given
order, test = the others, no shuffling (the release orders its probe sets round-robin over the
classes, so both halves are class-balanced; shuffled probe sets may leave test classes unseen, which
then can never be predicted). The score is the test accuracy x100.

* split kNN: each test sample takes the majority label of its k Euclidean nearest training samples
  (the smallest label on a tie, no fractional credit; scikit-learn's `KNeighborsClassifier`).
* split logistic: multinomial logistic regression over the classes present in the training half,
  c * sum CE + 1/2 ||W||^2 with c = 1 and an unpenalised intercept, solved to convergence
  (`_softmax_regression.fit`); prediction argmax W^T x + b. The release caps lbfgs at 20 iterations
  with tol 0.1, which gives scikit-learn-version-dependent numbers (up to 59 points apart); the optimum
  does not depend on the solver.

Both take `n_dims=` (an exact PCA to n_dims, fitted on all N samples as in the release, first).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from parc_jax.estimators import _engine, _knn, _labels, _softmax_regression, _stats, _validation


def train_size(n: int) -> int:
    """Samples in the training half: N - floor(N / 2), the release's `split_data(percent_train=0.5)`."""
    return n - n // 2


def _accuracy(predictions: jax.Array, truth: jax.Array) -> jax.Array:
    return 100.0 * jnp.mean((predictions == truth).astype(jnp.float32))


def _split_knn_kernel(features, labels, *, num_classes, k, n_dims):
    n_train = train_size(features.shape[0])
    x = _knn.prepare_points(features, n_dims=n_dims, metric="euclidean")
    distances = _knn.squared_distances(x[n_train:], x[:n_train])
    _, neighbours = jax.lax.top_k(-distances, k)  # equal values: lower index first
    predictions, _ = _knn.majority_vote(labels[:n_train][neighbours], num_classes)
    return _accuracy(predictions, labels[n_train:])


def _split_logistic_kernel(features, labels, *, num_classes, n_dims):
    """Fit in the training half's Gram coordinates (`_softmax_regression.training_coordinates`): for
    D > N the unknowns shrink from D x C to (N / 2) x C, and the test rows map through their products
    with the training rows."""
    n_train = train_size(features.shape[0])
    x = _stats.reduce_dims(jnp.asarray(features, jnp.float32), n_dims)
    train, test, train_labels = x[:n_train], x[n_train:], labels[:n_train]
    mean = train.mean(axis=0)  # the unpenalised intercept absorbs any shift
    coordinates, test_coordinates = _softmax_regression.training_coordinates(train - mean, test - mean)
    present = jnp.bincount(train_labels, length=num_classes) > 0
    fit = _softmax_regression.fit(
        coordinates,
        train_labels,
        jnp.ones((n_train,), jnp.float32),
        num_classes=num_classes,
        l2=1.0 / n_train,  # c sum CE + 1/2 ||W||^2 with c = 1, divided by n_train
        class_mask=present,
    )
    test_logits = _softmax_regression.masked_logits(test_coordinates, fit.weights, fit.bias, present)
    return _accuracy(_stats.first_argmax(test_logits), labels[n_train:])


def _check_split(n: int) -> None:
    if n < 4:
        raise ValueError(f"a train/test split needs at least 4 probe samples, got N={n}")


def _prepare_split_knn(labels, num_classes, *, n, d, k=1, n_dims=None):
    _check_split(n)
    k = _knn.check_k(k, train_size(n))
    n_dims = _validation.check_n_dims(n_dims, n, d)
    return _labels.prepare_class_labels(labels, num_classes, n=n, d=d, k=k, n_dims=n_dims)


def _prepare_split_logistic(labels, num_classes, *, n, d, n_dims=None):
    _check_split(n)
    n_dims = _validation.check_n_dims(n_dims, n, d)
    return _labels.prepare_class_labels(labels, num_classes, n=n, d=d, n_dims=n_dims)


SPLIT_KNN_SPEC = _engine.EstimatorSpec(
    name="split_knn",
    input_kind="features",
    prepare=_prepare_split_knn,
    kernel=_split_knn_kernel,
    description="kNN trained on the first half of the probe set, accuracy x100 on the second (PARC release)",
)

SPLIT_LOGISTIC_SPEC = _engine.EstimatorSpec(
    name="split_logistic",
    input_kind="features",
    prepare=_prepare_split_logistic,
    kernel=_split_logistic_kernel,
    description="converged multinomial logistic regression on the first half, accuracy x100 on the second",
)


def split_knn(
    features: jax.typing.ArrayLike, labels, num_classes: int, *, k: int = 1, n_dims: int | None = None
) -> jax.Array:
    """Held-out kNN accuracy x100: train on the first N - floor(N/2) samples, test on the rest.

    Args:
      features: [N, D] probe features, in the probe set's order (the split does not shuffle).
      labels: [N] int target labels in [0, num_classes).
      num_classes: C, the number of target classes.
      k: number of neighbours among the training half (1 <= k <= N - floor(N/2)).
      n_dims: if given, exact PCA to this many dimensions first (clamped to min(N, D)).

    Returns:
      Scalar in [0, 100]: test accuracy of the majority vote of the k Euclidean nearest training samples.
    """
    return _engine.run(SPLIT_KNN_SPEC, features, labels, num_classes, k=k, n_dims=n_dims)


def split_logistic(features: jax.typing.ArrayLike, labels, num_classes: int, *, n_dims: int | None = None) -> jax.Array:
    """Held-out accuracy x100 of a multinomial logistic regression solved to convergence.

    Args:
      features: [N, D] probe features, in the probe set's order (the split does not shuffle).
      labels: [N] int target labels in [0, num_classes).
      num_classes: C, the number of target classes.
      n_dims: if given, exact PCA to this many dimensions first (clamped to min(N, D)).

    Returns:
      Scalar in [0, 100]: test accuracy of argmax W^T x + b, with (W, b) minimising
      sum_i CE(softmax(W^T x_i + b), y_i) + 1/2 ||W||_F^2 over the first N - floor(N/2) samples
      (scikit-learn's multinomial `LogisticRegression(C=1)` at convergence).
    """
    return _engine.run(SPLIT_LOGISTIC_SPEC, features, labels, num_classes, n_dims=n_dims)
