"""Host-side preparation shared by the estimators that take integer class labels."""

from __future__ import annotations

import jax.numpy as jnp

from parc_jax.estimators import _validation


def prepare_class_labels(labels, num_classes, *, n, d, **static):
    """Check [N] int labels in [0, num_classes); the kernel gets them as a traced argument."""
    num_classes = _validation.check_num_classes(num_classes)
    labels = _validation.check_labels(labels, n, num_classes)
    return (jnp.asarray(labels),), dict(num_classes=num_classes, **static)
