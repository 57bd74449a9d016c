"""Model banks: named lists of zoo models with the weights each one uses.

A bank is a Python config file (built-in ones in `parc_jax/bank/builtin/<name>.py`) whose `get_config()` returns a
ConfigDict with `name` and `models`, a list of entries:

    dict(name="cnn_small@mnist5k",          # unique name shown in rankings
         model="cnn_small",                 # zoo name (parc_jax.models)
         weights="offline_weights/cnn_small@mnist5k",  # path (relative to the config file), or
                                            # None: the zoo's pretrained weights, "random": seeded init
         source_dataset="mnist5k",          # what the weights were trained on ("none" if random)
         seed=0,                            # PRNG seed of a random initialisation
         image_size=None)                   # input side in px; None: the model's own (e.g. 224)

`load_bank(spec)` accepts a built-in bank name ("offline"), a path to such a file, or a
comma-separated list of zoo model names (each with its default pretrained weights).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import pathlib

import jax

from parc_jax import models

BUILTIN_ROOT = pathlib.Path(__file__).resolve().parent / "builtin"


def _describe(model: str, field: str) -> str:
    """`models.describe(model).<field>` ("weights" or "source_dataset"), read from the zoo's factory where
    it holds the field itself: `describe` builds the model's parameter shapes (seconds for an
    EfficientNet), which a rerun that finds every probe set cached must not pay."""
    factory = models.get_factory(model)
    if field == "weights" and hasattr(factory, "weights_file"):
        return factory.weights_file() or "random"
    if field == "source_dataset" and hasattr(factory, "source_dataset"):
        return factory.source_dataset
    return getattr(models.describe(model), field)


@dataclasses.dataclass(frozen=True)
class BankEntry:
    """One model of a bank and where its weights come from."""

    name: str
    model: str
    weights: str | None = None
    source_dataset: str = ""
    seed: int = 0
    image_size: int | None = None

    @property
    def architecture(self) -> str:
        return self.model

    def preprocessing(self, model: models.ZooModel) -> models.Preprocessing:
        """The model's eval preprocessing, resized to `image_size` when the entry sets one."""
        spec = model.info.preprocessing
        if self.image_size is None:
            return spec
        return dataclasses.replace(spec, input_size=self.image_size, resize_size=self.image_size)

    def weights_file(self) -> str:
        """The weights this entry loads: a path, or "random"."""
        if self.weights == "random":
            return "random"
        if self.weights is None:
            found = _describe(self.model, "weights")
            if found == "random":
                trained = [
                    e.name
                    for e in builtin_entries().values()
                    if e.model == self.model and e.weights not in (None, "random")
                ]
                here = f"; trained weights here: {', '.join(trained)}" if trained else ""
                raise ValueError(
                    f"{self.name}: no pretrained weights for {self.model} on this machine{here} "
                    f"(see `python -m parc_jax.models` for how to install pretrained ones)"
                )
            return found
        return self.weights

    def fingerprint(self) -> str:
        """A hash of the weights' contents, so that cached probes never outlive retrained weights."""
        path = self.weights_file()
        if path == "random":
            return f"random:{self.seed}"
        root = pathlib.Path(path)
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        digest = hashlib.sha1()
        for p in files:
            digest.update(str(p.relative_to(root) if root.is_dir() else p.name).encode())
            with open(p, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
        return digest.hexdigest()[:16]

    def load(self) -> models.ZooModel:
        """Build the zoo model with this entry's weights."""
        if self.weights == "random":
            return models.load(self.model, pretrained=False, rng=jax.random.key(self.seed))
        if self.weights is None:
            return models.load(self.model)
        return models.load(self.model, weights_path=self.weights)


def _from_config_file(path: pathlib.Path) -> list[BankEntry]:
    spec = importlib.util.spec_from_file_location(f"parc_jax_bank_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config()
    entries = []
    for raw in config.models:
        raw = dict(raw)
        weights = raw.get("weights")
        if weights not in (None, "random"):
            weights = str((path.parent / weights).resolve())
        entries.append(
            BankEntry(
                name=raw.get("name", raw["model"]),
                model=raw["model"],
                weights=weights,
                source_dataset=raw.get("source_dataset", ""),
                seed=int(raw.get("seed", 0)),
                image_size=raw.get("image_size"),
            )
        )
    return entries


def builtin_banks() -> list[str]:
    """Names of the bank configs shipped with the package (parc_jax/bank/builtin/)."""
    return sorted(p.stem for p in BUILTIN_ROOT.glob("*.py") if not p.stem.startswith("_"))


def builtin_entries() -> dict[str, BankEntry]:
    """Every entry of the built-in banks usable here, by name (e.g. ``cnn_small@mnist5k``, whose trained
    weights ship with the package); banks whose checkpoints are not on this machine (the PARC release's)
    are left out."""
    entries = {}
    for bank in builtin_banks():
        try:
            entries.update({e.name: e for e in _from_config_file(BUILTIN_ROOT / f"{bank}.py")})
        except ValueError:
            continue
    return entries


def load_bank(spec: str) -> list[BankEntry]:
    """A bank from a built-in name, a config file path, or "a,b" names of zoo models or built-in bank entries.

    A zoo model name gets the zoo's pretrained weights at the model's own input size; a built-in entry name
    (``cnn_small@mnist5k``) the entry's weights and input size.
    """
    path = pathlib.Path(spec)
    if spec in builtin_banks():
        path = BUILTIN_ROOT / f"{spec}.py"
    if path.suffix == ".py":
        if not path.is_file():
            raise ValueError(f"bank config {spec} not found")
        entries = _from_config_file(path)
    else:
        names = [n.strip() for n in spec.split(",") if n.strip()]
        known = builtin_entries()
        unknown = [n for n in names if n not in models.names() and n not in known]
        if unknown or not names:
            raise ValueError(
                f"unknown bank or model {', '.join(unknown) or spec!r}; built-in banks: {', '.join(builtin_banks())}; "
                f"zoo models: {', '.join(models.names())}; built-in bank entries: {', '.join(known)}"
            )
        entries = [
            BankEntry(name=n, model=n, source_dataset=_describe(n, "source_dataset"))
            if n in models.names()
            else known[n]
            for n in names
        ]
    duplicates = {e.name for e in entries if sum(f.name == e.name for f in entries) > 1}
    if duplicates:
        raise ValueError(f"bank has duplicate model names: {', '.join(sorted(duplicates))}")
    return entries
