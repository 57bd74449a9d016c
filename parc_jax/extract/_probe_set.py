"""The result of running one model over a probe set."""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True, eq=False)
class ProbeSet:
    """Features, source-class probabilities and target labels of a probe set.

    What the transferability estimators consume: PARC, LogME, H-score and kNN read
    ``features``; LEEP and NCE read ``probs`` (Bolya et al., "Scalable Diverse Model Selection
    for Accessible Transfer Learning", NeurIPS 2021, Sec. 3).

    Attributes:
      features: ``[N, D]`` float32, the input of the model's final classifier.
      probs: ``[N, Z]`` float32, ``softmax(logits)`` over the Z source classes.
      labels: ``[N]`` int (or ``[N, C]`` multi-hot) target labels, or None when the input
        carried none.
    """

    features: np.ndarray
    probs: np.ndarray
    labels: np.ndarray | None

    def __post_init__(self):
        n = len(self.features)
        if self.features.ndim != 2 or self.probs.ndim != 2:
            raise ValueError(
                f"ProbeSet wants features [N, D] and probs [N, Z], got shapes "
                f"{self.features.shape} and {self.probs.shape}"
            )
        if len(self.probs) != n or (self.labels is not None and len(self.labels) != n):
            raise ValueError(
                f"ProbeSet rows disagree: features {n}, probs {len(self.probs)}, labels "
                f"{None if self.labels is None else len(self.labels)}"
            )

    def __len__(self) -> int:
        return len(self.features)

    @property
    def feature_dim(self) -> int:
        """D, the feature width."""
        return self.features.shape[1]

    @property
    def num_source_classes(self) -> int:
        """Z, the number of source classes the probabilities range over."""
        return self.probs.shape[1]
