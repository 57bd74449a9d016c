"""The benchmark's config: fields and defaults, config files, command-line overrides, checks.

* :func:`default_config`: every field of a benchmark run and its default,
* :func:`load_config`: a Python config file's `get_config()` laid over the defaults,
* :func:`apply_overrides`: `--config.FIELD=VALUE` overrides, converted to each field's type,
* :func:`validate_config`: range checks before any work starts,
* :func:`enable_compilation_cache`: JAX's persistent compilation cache beside the probe cache.

The runs themselves are in :mod:`parc_jax.protocol`.
"""

from __future__ import annotations

import ast
import importlib.util
import logging
import os
import pathlib
from collections.abc import Mapping

import ml_collections

from parc_jax import ranking

log = logging.getLogger(__name__)


def default_config() -> ml_collections.ConfigDict:
    """The benchmark's config fields and their defaults.

    Fields:
      bank: a built-in bank name (configs/banks/), a bank config file, or "zoo_a,zoo_b".
      targets: target dataset names (`parc_jax.data.load`).
      runs: number of probe samples per target (run r uses seed 2020 + 3037 r).
      budget: probe images per run (PARC: 500).
      split, sampler: where and how the probe is drawn ("fixed" budget or "balanced").
      estimators: variant names of `parc_jax.ranking.VARIANTS` ("all" for every one).
      baselines: add the parameter count, depth and leave-target-out accuracy baselines.
      oracle: CSV of fine-tuned accuracies (Architecture = bank entry name).
      output_dir: where the results, report and plots go.
      cache_dir: probe cache ("" = $PARC_JAX_CACHE or ~/.cache/parc_jax/probes).
      data_dir: prepared datasets ("" = the data module's default).
      batch_size, strategy, dtype: extraction settings (`parc_jax.extract.extract`).
      plots: write the PNG plots.
    """
    c = ml_collections.ConfigDict()
    c.bank = ""
    c.targets = ()
    c.runs = 5
    c.budget = 500
    c.split = "train"
    c.sampler = "fixed"
    c.estimators = tuple(ranking.VARIANTS)
    c.baselines = True
    c.oracle = ""
    c.output_dir = "benchmark_results"
    c.cache_dir = ""
    c.data_dir = ""
    c.batch_size = 128
    c.strategy = "mesh"
    c.dtype = "float32"
    c.plots = True
    return c


def load_config(path: str | os.PathLike | None) -> ml_collections.ConfigDict:
    """`get_config()` of a Python config file laid over :func:`default_config` (None: defaults).

    Raises:
      ValueError: missing file, no `get_config`, or a field the benchmark does not know.
    """
    config = default_config()
    if path is None:
        return config
    path = pathlib.Path(path)
    if not path.is_file():
        raise ValueError(f"config file {str(path)!r} not found; pass a Python file with get_config()")
    spec = importlib.util.spec_from_file_location(f"_parc_jax_benchmark_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # a broken config file: report it in one line
        raise ValueError(f"config file {str(path)!r} failed to load: {type(error).__name__}: {error}") from None
    if not hasattr(module, "get_config"):
        raise ValueError(f"config file {str(path)!r} defines no get_config(); add one returning a ConfigDict")
    loaded = module.get_config()
    items = loaded.items() if hasattr(loaded, "items") else dict(loaded).items()
    for key, value in items:
        if key not in config:
            raise ValueError(f"config file {str(path)!r}: unknown field {key!r}; "
                             f"valid fields: {', '.join(sorted(config))}")
        config[key] = _coerce(key, value, config[key])
    return config


def _coerce(key: str, value, old):
    """`value` converted to the type of the default `old` (a text override or a config value)."""
    if isinstance(old, bool):
        if isinstance(value, str):
            if value.strip().lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(f"config.{key} expects true or false, got {value!r}")
            return value.strip().lower() in ("true", "1", "yes")
        return bool(value)
    if isinstance(old, int):
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"config.{key} expects an integer, got {value!r}") from None
        if not number.is_integer():
            raise ValueError(f"config.{key} expects an integer, got {value!r}")
        return int(number)
    if isinstance(old, tuple):
        if isinstance(value, str):
            try:
                parsed = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                parsed = value
            value = parsed if isinstance(parsed, (tuple, list)) else [s for s in value.split(",")]
        if not isinstance(value, (tuple, list)):
            raise ValueError(f"config.{key} expects a list of names, got {value!r}")
        return tuple(str(v).strip() for v in value if str(v).strip())
    if value is None:
        return ""
    return str(value)


def apply_overrides(config: ml_collections.ConfigDict, overrides: Mapping[str, str]) -> ml_collections.ConfigDict:
    """A copy of `config` with `{"field": "text"}` overrides (e.g. from `--config.runs=2`) applied.

    Lists are given comma-separated (`--config.targets=digits,mnist5k`), booleans as true/false.

    Raises:
      ValueError: an unknown field or a value of the wrong type.
    """
    config = ml_collections.ConfigDict(config.to_dict())
    for key, text in overrides.items():
        if key not in config:
            raise ValueError(f"unknown config field {key!r}; valid fields: {', '.join(sorted(config))}")
        config[key] = _coerce(key, text, config[key])
    return config


def validate_config(config: ml_collections.ConfigDict, *, release: bool = False) -> list[str]:
    """Checks a config before any work starts; returns the validated estimator names.

    Args:
      config: the benchmark config.
      release: checking for :func:`parc_jax.protocol.run_release` (no bank or targets needed).

    Raises:
      ValueError: a field out of range, naming the field and what is allowed.
    """
    names = ranking.parse_estimators(list(config.estimators))
    if not config.oracle:
        raise ValueError("config.oracle is not set; pass the oracle CSV with --oracle FILE or --config.oracle=FILE")
    if not pathlib.Path(config.oracle).is_file():
        raise ValueError(f"oracle table {config.oracle!r} not found; pass an existing CSV with --oracle")
    if not config.output_dir:
        raise ValueError("config.output_dir is empty; pass --output-dir DIR")
    if release:
        return names
    if not config.bank:
        raise ValueError("config.bank is not set; pass --config.bank=NAME (a built-in bank, a config file "
                         "or zoo names)")
    if not config.targets:
        raise ValueError("config.targets is empty; pass --config.targets=a,b (dataset names)")
    if len(set(config.targets)) != len(config.targets):
        raise ValueError(f"config.targets={list(config.targets)} lists a dataset twice")
    if config.runs < 1:
        raise ValueError(f"config.runs={config.runs} must be >= 1")
    if config.budget < 2:
        raise ValueError(f"config.budget={config.budget} must be >= 2 probe images")
    if config.batch_size < 1:
        raise ValueError(f"config.batch_size={config.batch_size} must be >= 1")
    for key, allowed in (("sampler", ("fixed", "balanced")), ("strategy", ("mesh", "pmap")),
                         ("dtype", ("float32", "bfloat16"))):
        if config[key] not in allowed:
            raise ValueError(f"config.{key}={config[key]!r} is not one of {', '.join(allowed)}")
    return names


def enable_compilation_cache(config: ml_collections.ConfigDict) -> pathlib.Path | None:
    """Turns on JAX's persistent compilation cache beside the probe cache, unless one is set.

    Every bank model's initialisation and extraction step is compiled once per process and
    (run, target); with the cache, the same programs load from disk instead (the tiny-bank
    benchmark runs ~2x faster, reruns more). The cache lives in `<probe cache>/../xla`.

    Returns:
      The cache directory, or None when the user had already configured one.
    """
    import jax  # pylint: disable=import-outside-toplevel

    from parc_jax.probing import default_cache_dir  # pylint: disable=import-outside-toplevel

    if jax.config.jax_compilation_cache_dir:
        return None
    path = pathlib.Path(config.cache_dir or default_cache_dir()).expanduser().absolute().parent / "xla"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        log.warning("no persistent compilation cache at %s: %s", path, error.strerror)
        return None
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    return path

