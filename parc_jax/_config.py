"""The one config mechanism of the command lines: config files, ``--config.KEY=VALUE``, the XLA cache.

Every command (``python -m parc_jax.score``, ``.benchmark``, ``.finetune``) has a default config
(an ``ml_collections.ConfigDict``); ``--config FILE`` lays a Python file's ``get_config()`` over it
and ``--config.KEY=VALUE`` (or ``--config.KEY VALUE``) sets one field. Every value is converted to the
type of the field's default, the same way for every command:

* bool: ``true``/``false`` (also ``1``/``0``, ``yes``/``no``),
* int / float: a number (an int field refuses ``2.5``),
* tuple: comma-separated (``digits,mnist5k``, ``0.1,0.01``) or a Python literal (``(0.1, 0.01)``);
  elements take the type of the default's elements,
* str: the text as given.

Library functions take the resulting config as an argument and never read flags.
"""

from __future__ import annotations

import ast
import importlib.util
import logging
import os
import pathlib
from collections.abc import Mapping, Sequence

import ml_collections

log = logging.getLogger(__name__)

COMPILATION_CACHE_ENV = "PARC_JAX_COMPILATION_CACHE"
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


def load_config(path: str | os.PathLike | None, defaults: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """`get_config()` of a Python config file laid over a copy of `defaults` (None: the defaults).

    Raises:
      ValueError: missing or broken file, no `get_config`, a field the command does not know, or a
        value of the wrong type.
    """
    config = ml_collections.ConfigDict(defaults.to_dict())
    if path is None:
        return config
    path = pathlib.Path(path)
    if not path.is_file():
        raise ValueError(f"config file {str(path)!r} not found; pass a Python file with get_config()")
    spec = importlib.util.spec_from_file_location(f"_parc_jax_config_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # a broken config file: report it in one line
        raise ValueError(f"config file {str(path)!r} failed to load: {type(error).__name__}: {error}") from None
    if not hasattr(module, "get_config"):
        raise ValueError(f"config file {str(path)!r} defines no get_config(); add one returning a ConfigDict")
    loaded = module.get_config()
    for key, value in loaded.items() if hasattr(loaded, "items") else dict(loaded).items():
        if key not in config:
            raise ValueError(
                f"config file {str(path)!r}: unknown field {key!r}; valid fields: {', '.join(sorted(config))}"
            )
        config[key] = coerce(key, value, config[key])
    return config


def apply_overrides(config: ml_collections.ConfigDict, overrides: Mapping[str, object]) -> ml_collections.ConfigDict:
    """A copy of `config` with `{field: value}` overrides (text or values) converted and applied.

    Raises:
      ValueError: an unknown field or a value of the wrong type.
    """
    config = ml_collections.ConfigDict(config.to_dict())
    for key, value in overrides.items():
        if key not in config:
            raise ValueError(f"unknown config field {key!r}; valid fields: {', '.join(sorted(config))}")
        config[key] = coerce(key, value, config[key])
    return config


def coerce(key: str, value, default):
    """`value` (text from a command line, or a config file's value) as the type of `default`."""
    if isinstance(default, bool):
        if isinstance(value, str):
            if value.strip().lower() not in _TRUE + _FALSE:
                raise ValueError(f"config.{key} expects true or false, got {value!r}")
            return value.strip().lower() in _TRUE
        return bool(value)
    if isinstance(default, (int, float)):
        return _number(key, value, int if isinstance(default, int) else float)
    if isinstance(default, tuple):
        if isinstance(value, str):
            value = _literal(value) if value.strip().startswith(("(", "[")) else value.split(",")
        if not isinstance(value, (tuple, list)):
            value = (value,)
        items = [v.strip() if isinstance(v, str) else v for v in value]
        items = [v for v in items if v != ""]
        kind = type(default[0]) if default and not isinstance(default[0], str) else None
        return tuple(_number(key, v, kind) if kind in (int, float) else (v if kind else str(v)) for v in items)
    if value is None:
        return ""
    return value if not isinstance(default, str) else str(value)


def _literal(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise ValueError(f"{text!r} is not a list; write it as a,b,c or (a, b, c)") from None


def _number(key: str, value, kind):
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"config.{key} expects {'an integer' if kind is int else 'a number'}, got {value!r}") from None
    if kind is int:
        if isinstance(value, bool) or not number.is_integer():
            raise ValueError(f"config.{key} expects an integer, got {value!r}")
        return int(number)
    return number


def split_overrides(arguments: Sequence[str]) -> dict[str, str]:
    """`--config.FIELD=VALUE` / `--config.FIELD VALUE` arguments -> {FIELD: VALUE} (text).

    Raises:
      ValueError: any other argument, or a field without a value.
    """
    out, i = {}, 0
    while i < len(arguments):
        argument = arguments[i]
        if not argument.startswith("--config."):
            raise ValueError(f"unrecognised argument {argument!r}; config fields are set with --config.FIELD=VALUE")
        key = argument[len("--config.") :]
        if "=" in key:
            key, value = key.split("=", 1)
        elif i + 1 < len(arguments) and not arguments[i + 1].startswith("--"):
            i += 1
            value = arguments[i]
        else:
            raise ValueError(f"{argument} needs a value: {argument}=VALUE")
        out[key] = value
        i += 1
    return out


def default_compilation_cache() -> str:
    """$PARC_JAX_COMPILATION_CACHE, else ~/.cache/parc_jax/xla ("off" disables the cache)."""
    return os.environ.get(COMPILATION_CACHE_ENV, str(pathlib.Path("~/.cache/parc_jax/xla").expanduser()))


def enable_compilation_cache(directory: str | os.PathLike | None = None) -> pathlib.Path | None:
    """Turns on JAX's persistent compilation cache, so reruns load compiled programs from disk.

    Args:
      directory: where compiled programs are kept; None: :func:`default_compilation_cache`;
        "off" (or "") disables it. A cache the user configured in JAX already wins.

    Returns:
      The cache directory, or None when disabled, already configured or not writable.
    """
    import jax  # pylint: disable=import-outside-toplevel

    directory = default_compilation_cache() if directory is None else str(directory)
    if jax.config.jax_compilation_cache_dir or directory.strip().lower() in ("", "off", "none"):
        return None
    path = pathlib.Path(directory).expanduser().absolute()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        log.warning("no persistent compilation cache at %s: %s", path, error.strerror)
        return None
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path
