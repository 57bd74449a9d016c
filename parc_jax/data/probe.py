"""Probe-set samplers of the PARC benchmark (Bolya, Mittapalli & Hoffman, NeurIPS 2021).

Both samplers reproduce the PARC release (``datasets.py``: ``FixedBudgetSampler``,
``BalancedClassSampler``; seeded by ``utils.seed_all(2020 + 3037 * run)``) with a local
``random.Random(seed)`` instead of the global one, so the same labels and seed give the same
indices as the release:

1. every class's index list (classes in order of first appearance in ``labels``, indices in
   dataset order) is shuffled with ``rng.shuffle``;
2. ``fixed``: if ``C * min_per_class > budget``, the class list ``0..C-1`` is shuffled and the
   first ``budget // min_per_class`` classes kept; then rounds over the kept classes (ascending
   id) pop one index from the end of each class's list until ``budget`` indices are taken or
   every class is exhausted. Classes end up as even as possible (sizes differ by at most one,
   except where a class runs out), with at least ``min_per_class`` images per kept class when
   they have them.
3. ``balanced``: ``per_class`` rounds over classes ``0..C-1``, popping one index per class.

The result is in sampling order (round by round), as the release feeds it to its data loader.
"""

from __future__ import annotations

import random

import numpy as np

PARC_BASE_SEED = 2020
PARC_RUN_STRIDE = 3037


def parc_seed(run: int) -> int:
    """The PARC release's probe seed for run ``run``: ``2020 + 3037 * run``."""
    return PARC_BASE_SEED + PARC_RUN_STRIDE * int(run)


def _class_lists(labels: np.ndarray, rng: random.Random) -> dict[int, list[int]]:
    # Insertion order = first appearance, as the release's defaultdict built from a loader pass.
    lists: dict[int, list[int]] = {}
    for i, c in enumerate(labels.tolist()):
        lists.setdefault(c, []).append(i)
    for v in lists.values():
        rng.shuffle(v)
    return lists


def sample_probe(
    labels,
    *,
    budget: int = 500,
    seed: int,
    method: str = "fixed",
    per_class: int | None = None,
    num_classes: int | None = None,
    min_per_class: int = 2,
    exclude=None,
) -> np.ndarray:
    """Indices of a probe set drawn from a (train) split, as in the PARC release.

    Args:
      labels: ``[N]`` int class ids of the split to sample from.
      budget: probe size for ``method="fixed"`` (PARC: 500).
      seed: sampler seed; PARC's run ``r`` uses :func:`parc_seed` ``(r) = 2020 + 3037 r``.
      method: ``"fixed"`` (fixed budget, classes as even as possible) or ``"balanced"``
        (``per_class`` images of every class).
      per_class: images per class for ``"balanced"``.
      num_classes: number of classes C (default ``max(labels) + 1``); decides whether classes are
        subsampled (``C * min_per_class > budget``).
      min_per_class: at least this many images per kept class (PARC: 2).
      exclude: optional indices never to sample (e.g. held-out examples).

    Returns:
      int64 ``[K]`` distinct indices into ``labels``, in sampling order; ``K = budget`` for
      ``fixed`` unless the split has fewer eligible images.

    Raises:
      ValueError: bad labels, budget, method or per_class.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be a non-empty 1-D integer array, got {labels.dtype} {labels.shape}")
    if labels.min() < 0:
        raise ValueError(f"labels must be >= 0, got min {labels.min()}")
    c_total = int(labels.max()) + 1 if num_classes is None else int(num_classes)
    if labels.max() >= c_total:
        raise ValueError(f"label {labels.max()} out of range for num_classes={c_total}")
    if min_per_class < 1:
        raise ValueError(f"min_per_class must be >= 1, got {min_per_class}")
    rng = random.Random(int(seed))
    if exclude is not None:
        keep = np.ones(labels.size, bool)
        keep[np.asarray(exclude, np.int64)] = False
    lists = _class_lists(labels, rng)  # shuffled on the full split, as the release does
    if exclude is not None:
        lists = {c: [i for i in v if keep[i]] for c, v in lists.items()}
    classes = [c for c in range(c_total) if c in lists]
    out: list[int] = []
    if method == "fixed":
        if budget < 1:
            raise ValueError(f"budget must be >= 1, got {budget}")
        if c_total * min_per_class > budget:
            rng.shuffle(classes)
            classes = classes[: budget // min_per_class]
        last = None
        while last != len(out) and len(out) < budget:
            last = len(out)
            for c in classes:
                if lists[c]:
                    out.append(lists[c].pop())
                if len(out) >= budget:
                    break
    elif method == "balanced":
        if per_class is None or per_class < 1:
            raise ValueError(f"method='balanced' needs per_class >= 1, got {per_class}")
        for _ in range(per_class):
            for c in classes:
                if lists[c]:
                    out.append(lists[c].pop())
    else:
        raise ValueError(f"unknown probe method {method!r}; use 'fixed' or 'balanced'")
    return np.asarray(out, np.int64)
