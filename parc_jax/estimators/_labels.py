"""Host-side preparation shared by the estimators that take integer class labels."""

from __future__ import annotations

import numpy as np

from parc_jax.estimators import _validation


def checked_class_labels(labels, num_classes, n: int) -> tuple[np.ndarray, int]:
    """[N] int labels in [0, num_classes) as an int32 NumPy array, and num_classes as an int."""
    num_classes = _validation.check_num_classes(num_classes)
    return _validation.check_labels(labels, n, num_classes), num_classes


def prepare_class_labels(labels, num_classes, *, n, d, **static):
    """Check [N] int labels in [0, num_classes); the kernel gets them as a traced argument."""
    labels, num_classes = checked_class_labels(labels, num_classes, n)
    return (np.asarray(labels),), dict(num_classes=num_classes, **static)
