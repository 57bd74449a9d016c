"""Synthetic probe sets shared by test modules."""

import numpy as np


def class_clusters(n: int, d: int, num_classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """([n, d] float32 features, [n] labels): unit-variance noise around one N(0, I) centre per class,
    labels cycling through the classes."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % num_classes
    return (rng.normal(size=(num_classes, d))[labels] + rng.normal(size=(n, d))).astype(np.float32), labels
