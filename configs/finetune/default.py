"""The default fine-tuning recipe: SGD + momentum 0.9, warmup + cosine, lr x wd grid of 3 x 2.

    python -m parc_jax.finetune --model resnet50 --dataset fashion_mnist_deb \
        --workdir /tmp/ft --config configs/finetune/default.py
"""

from parc_jax.finetune import default_config


def get_config():
    return default_config()
