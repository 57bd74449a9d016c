"""The compiled training and evaluation steps, data-parallel over a device mesh.

The batch is sharded along the mesh's ``"data"`` axis and the train state is replicated
(``jax.jit`` with ``NamedSharding``; XLA inserts the gradient all-reduce). BatchNorm statistics in
training mode are those of the whole global batch, as with synchronised BatchNorm.

Loss: mean softmax cross-entropy with optional label smoothing eps,
``L = -(1/B) sum_i sum_c q_ic log softmax(z_i)_c``, ``q_ic = (1 - eps) [c = y_i] + eps / C``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding

from parc_jax import parallel
from parc_jax.finetune._network import Network


@flax.struct.dataclass
class TrainState:
    """Everything a checkpoint must hold to continue a run bit-for-bit."""

    step: jax.Array
    trainable: Any
    frozen: Any
    batch_stats: Any
    opt_state: Any


def global_mesh() -> Mesh:
    """A 1-D ``("data",)`` mesh over every device of every process (data-parallel training).

    With one process this is :func:`parc_jax.parallel.data_mesh`; under ``jax.distributed`` it
    spans all hosts, so one run uses them all (``parallel.data_mesh()`` gives the local mesh used
    when processes train different pairs).
    """
    if jax.process_count() == 1:
        return parallel.data_mesh()
    return Mesh(np.asarray(jax.devices(), dtype=object), (parallel.DATA_AXIS,))


def put_global_batch(x, sharding: NamedSharding) -> jax.Array:
    """Places a global batch (numpy or jax) on the mesh.

    Every process computes the same global batch (the order is a function of the step); on a
    mesh spanning several processes each one hands over its rows
    ``parallel.process_slice(B)``, which must match its devices' block of the batch.
    """
    if all(d.process_index == jax.process_index() for d in sharding.mesh.devices.flat):
        return jax.device_put(x, sharding)
    x = np.asarray(x)
    return jax.make_array_from_process_local_data(sharding, x[parallel.process_slice(len(x))], x.shape)


class Trainer:
    """Jitted train/eval steps of one (network, optimizer) pair on a mesh.

    Args:
      network: the :class:`Network` to train.
      tx: the optax optimizer.
      mesh: 1-D ``("data",)`` mesh; batch sizes must be multiples of its size.
      label_smoothing: eps of the loss above.
      seed: the dropout key of step t is ``fold_in(PRNGKey(seed), t)``.
    """

    def __init__(
        self,
        network: Network,
        tx: optax.GradientTransformation,
        mesh: Mesh,
        *,
        label_smoothing: float = 0.0,
        seed: int = 0,
    ):
        self.network = network
        self.tx = tx
        self.mesh = mesh
        self.label_smoothing = float(label_smoothing)
        self.data_sharding = parallel.batch_sharding(mesh)
        self.replicated = parallel.replicated_sharding(mesh)
        self._key = jax.device_put(jax.random.PRNGKey(seed), self.replicated)
        self.train_step = jax.jit(
            self._train_step,
            donate_argnums=0,
            in_shardings=(self.replicated, self.data_sharding, self.data_sharding, self.replicated),
            out_shardings=(self.replicated, self.replicated),
        )
        self._bn_moments = jax.jit(
            self._batch_moments,
            in_shardings=(self.replicated, self.data_sharding, self.replicated),
            out_shardings=self.replicated,
        )
        self._eval_step = jax.jit(
            self._eval_batch,
            in_shardings=(self.replicated, self.data_sharding, self.data_sharding, self.data_sharding),
            out_shardings=self.replicated,
        )

    @property
    def num_devices(self) -> int:
        return self.mesh.size

    def init_state(self, backbone_params: Any, batch_stats: Any, head_params: Any | None) -> TrainState:
        """The step-0 state, replicated on the mesh.

        The state is copied through host memory: the train step donates its state, which must not
        delete the caller's arrays (a device_put onto a device the array lives on may alias it).
        """
        trainable, frozen = self.network.split_params(backbone_params, head_params)
        state = TrainState(
            step=jnp.zeros((), jnp.int32),
            trainable=trainable,
            frozen=frozen,
            batch_stats=batch_stats or {},
            opt_state=self.tx.init(trainable),
        )
        return jax.device_put(jax.tree.map(np.array, state), self.replicated)

    def _loss(self, logits, labels):
        num_classes = logits.shape[-1]
        targets = optax.smooth_labels(jax.nn.one_hot(labels, num_classes), self.label_smoothing)
        return optax.softmax_cross_entropy(logits, targets)

    def _train_step(self, state: TrainState, images, labels, key):
        rng = jax.random.fold_in(key, state.step)

        def loss_fn(trainable):
            logits, new_stats = self.network.apply(
                trainable, state.frozen, state.batch_stats, images, train=True, rng=rng
            )
            return self._loss(logits, labels).mean(), (logits, new_stats)

        (loss, (logits, new_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.trainable)
        updates, opt_state = self.tx.update(grads, state.opt_state, state.trainable)
        trainable = optax.apply_updates(state.trainable, updates)
        metrics = {
            "loss": loss,
            "accuracy": jnp.mean(jnp.argmax(logits, -1) == labels) * 100.0,
            "grad_norm": optax.tree.norm(grads),
        }
        new_state = state.replace(step=state.step + 1, trainable=trainable, batch_stats=new_stats, opt_state=opt_state)
        return new_state, metrics

    def step(self, state: TrainState, images, labels: np.ndarray) -> tuple[TrainState, dict]:
        """One optimizer step on a global batch; returns the new state and device metrics.

        ``images`` are uint8 raw images or float32 model input (augmented), numpy or jax.
        """
        return self.train_step(
            state, put_global_batch(images, self.data_sharding), put_global_batch(labels, self.data_sharding), self._key
        )

    def _batch_moments(self, state: TrainState, images, key):
        # Flax BatchNorm updates every statistic as new = m * old + (1 - m) * b, with b the batch's
        # mean or (biased) variance. From old = 0 and old = 1: a = (1 - m) b and c = m + (1 - m) b,
        # so m = c - a and b = a / (1 - m), whatever the momentum m of each layer.
        def updated(fill):
            stats = jax.tree.map(lambda x: jnp.full_like(x, fill), state.batch_stats)
            _, new = self.network.apply(state.trainable, state.frozen, stats, images, train=True, rng=key)
            return new

        a, c = updated(0.0), updated(1.0)
        return jax.tree.map(lambda a, c: a / (1.0 - (c - a)), a, c)

    def recalibrate_batch_stats(
        self, state: TrainState, batches: Iterable[tuple[np.ndarray, np.ndarray]]
    ) -> TrainState:
        """BatchNorm running statistics re-estimated from ``batches`` with the final weights.

        Each statistic becomes the plain average of its batch values over the batches (as
        ``torch.optim.swa_utils.update_bn`` does), replacing the exponential moving average that a
        short fine-tuning leaves dominated by the pretrained statistics (with TF's momentum 0.99,
        50 steps keep 0.99^50 = 60% of them). Batches must be full (no padding rows: they would
        enter the statistics); a state without BatchNorm is returned unchanged.
        """
        if not state.batch_stats:
            return state
        total, n = None, 0
        for images, _ in batches:
            if len(images) % self.num_devices:
                raise ValueError(
                    f"BatchNorm recalibration batch of {len(images)} is not a multiple of "
                    f"the {self.num_devices} devices"
                )
            moments = self._bn_moments(state, put_global_batch(images, self.data_sharding), self._key)
            total = moments if total is None else jax.tree.map(jnp.add, total, moments)
            n += 1
        if n == 0:
            raise ValueError("BatchNorm recalibration got no batches")
        stats = jax.tree.map(lambda t, old: (t / n).astype(old.dtype), total, state.batch_stats)
        return state.replace(batch_stats=jax.device_put(stats, self.replicated))

    def _eval_batch(self, state: TrainState, images, labels, mask):
        logits, _ = self.network.apply(state.trainable, state.frozen, state.batch_stats, images, train=False)
        correct = (jnp.argmax(logits, -1) == labels) & mask
        loss = jnp.where(mask, self._loss(logits, labels), 0.0)
        return jnp.stack([correct.sum().astype(jnp.float32), loss.sum()])

    def evaluate(self, state: TrainState, batches: Iterable[tuple[np.ndarray, np.ndarray]], batch_size: int) -> dict:
        """Accuracy (%) and mean loss over every example of ``batches``, in eval mode.

        Args:
          state: the train state.
          batches: ``(images, labels)`` host batches of at most ``batch_size`` examples.
          batch_size: batches are padded to this size rounded up to a multiple of the device
            count, and masked, so no example is dropped and there is one compiled shape.
        """
        size = parallel.round_up(batch_size, self.num_devices)
        totals = np.zeros(2, np.float64)
        n = 0
        for images, labels in batches:
            n += len(labels)
            (x, y), mask = parallel.pad_rows((images, labels), size)
            out = self._eval_step(
                state,
                put_global_batch(x, self.data_sharding),
                put_global_batch(y, self.data_sharding),
                put_global_batch(mask, self.data_sharding),
            )
            totals += np.asarray(jax.device_get(out), np.float64)
        if n == 0:
            raise ValueError("evaluation set is empty; check the dataset's test split")
        return {"accuracy": float(100.0 * totals[0] / n), "loss": float(totals[1] / n)}
