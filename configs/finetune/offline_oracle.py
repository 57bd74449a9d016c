"""Ground-truth accuracies for the offline benchmark (issue 7): fine-tune each bank model on
each offline target (never on its own source), SGD grid selected on validation, retrained.

CPU-sized: 64 px inputs for the ImageNet models, a 2,000-image stratified train subsample and
3 epochs. On a GPU/TPU drop ``image_size`` and ``max_train_examples`` (0: full size and data).

    python -m parc_jax.finetune --config configs/finetune/offline_oracle.py \
        --bank offline --workdir runs/oracle
"""

from parc_jax.finetune import default_config


def get_config():
  c = default_config()
  c.mode = "finetune"
  c.targets = ("fashion_mnist_deb", "mnist5k", "digits")
  c.learning_rates = (0.03, 0.01)
  c.weight_decays = (1e-4,)
  c.batch_size = 64
  c.num_epochs = 3.0
  c.image_size = 64
  c.max_train_examples = 2000
  c.max_test_examples = 2000
  c.augment = True
  c.augment_scale = (0.6, 1.0)
  c.augment_flip = False
  c.checkpoint_every_steps = 100
  return c
