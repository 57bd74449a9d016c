"""Train the project's own small source models from scratch on the offline datasets.

Two architectures (a plain CNN and a CIFAR ResNet-8) on MNIST-5k, Fashion-MNIST and the
scikit-learn digits, at their native 32 px input. A learning-rate grid of two is trained on 80%
of the train split and selected on the other 20% (validation); the selected run itself is the
exported model (``final="selected_run"``: no retraining, to keep the whole job ~15 minutes on a
2-core CPU). One command reproduces the weights committed with the offline bank:

    python -m parc_jax.finetune --config configs/finetune/offline_sources.py \
        --workdir runs/sources --export parc_jax/bank/builtin/offline_weights

writing ``parc_jax/bank/builtin/offline_weights/<model>__<dataset>/`` (load with
``models.load(model, weights_path=...)``) and ``runs/sources/oracle.csv`` (their test accuracy).
"""

from parc_jax.finetune import default_config


def get_config():
    c = default_config()
    c.mode = "scratch"
    c.models = ("cnn_small", "resnet_tiny")
    c.targets = ("mnist5k", "fashion_mnist_deb", "digits")
    c.optimizer = "sgd"
    c.learning_rates = (0.1, 0.03)
    c.weight_decays = (5e-4,)
    c.batch_size = 128
    c.num_epochs = 10.0
    c.final = "selected_run"
    c.max_train_examples = 10000  # Fashion-MNIST: a stratified 10k of its 60k keeps this CPU-friendly
    c.augment = True
    c.augment_scale = (0.6, 1.0)  # digits and clothes: keep most of the object
    c.augment_flip = False  # a flipped digit is another symbol
    c.checkpoint_every_steps = 100
    return c
