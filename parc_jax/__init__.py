"""parc_jax: choose which pretrained model to fine-tune, in JAX.

Subpackages (imported on demand, so that importing one does not pull in the others):

* :mod:`parc_jax.estimators`  transferability estimators (PARC, LEEP, NCE, LogME, H-score, kNN).
* :mod:`parc_jax.evaluation`  correlation metrics and the PARC benchmark protocol.
* :mod:`parc_jax.models`      Flax model zoo with pretrained weights.
* :mod:`parc_jax.data`        TFDS input, offline builders, probe-set samplers.
* :mod:`parc_jax.extract`     data-parallel feature extraction and the probe cache.
* :mod:`parc_jax.finetune`    fine-tuning that produces ground-truth accuracies.
"""

__version__ = "0.1.0"
