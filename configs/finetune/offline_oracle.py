"""Ground truth for the offline bank: fine-tune every bank model on every offline
target but its own source, with a small learning-rate grid selected on validation.

Reduced CPU protocol (one 2-core CPU for the whole 24-pair table), the same for every pair:

* full fine-tuning (new linear head, every weight trained, BatchNorm in train mode), SGD with
  momentum 0.9, 5% linear warmup then cosine decay, weight decay 1e-4 on kernels, batch 32;
* a stratified, fixed (seed 0) subsample of 500 train images per target, of which 20%
  (stratified) is the validation split;
* learning rates {0.1, 0.01}, each trained for 2 epochs (25 steps) on the other 400 images and
  selected by validation accuracy; the selected run's accuracy on a fixed stratified 500-image
  subsample of test (digits: all 359) is the Oracle (``final="selected_run"``: no retraining);
* BatchNorm statistics re-estimated from the 400 training images with the final weights before
  evaluation (``bn_recalibration_batches``): after so few steps the running averages (momentum
  0.99 in EfficientNet-Lite) are still mostly the pretrained ones and evaluation collapses to
  chance (measured: 10% test accuracy at 61% train accuracy without it);
* inputs at each bank entry's own size: the bank's ``image_size`` (64 px for EfficientNet-Lite),
  else the model's (32 px for the small models), as when the bank is probed; light augmentation
  (random resized crop of 60-100% of the area, no flip: digits and clothes are not mirror-
  symmetric classes).

    python -m parc_jax.finetune --config configs/finetune/offline_oracle.py \
        --bank offline --workdir runs/oracle

On a GPU/TPU use the full data (``max_train_examples=0``, ``max_test_examples=0``), more epochs
and the retrain protocol (``final="retrain"``).
"""

from parc_jax.finetune import default_config


def get_config():
    c = default_config()
    c.mode = "finetune"
    c.targets = ("fashion_mnist_deb", "mnist5k", "digits")
    c.optimizer = "sgd"
    c.learning_rates = (0.1, 0.01)
    c.weight_decays = (1e-4,)
    c.batch_size = 32
    c.num_epochs = 2.0
    c.final = "selected_run"
    c.image_size = 0  # each bank entry's own input size (the bank sets 64 px for EfficientNet-Lite)
    c.max_train_examples = 500
    c.max_test_examples = 500
    c.augment = True
    c.augment_scale = (0.6, 1.0)
    c.augment_flip = False
    c.checkpoint_every_steps = 13
    c.bn_recalibration_batches = 1000  # every full batch of the run's training images
    c.log_every_steps = 10
    return c
