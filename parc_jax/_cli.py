"""Command-line pieces shared by the entry points (`python -m parc_jax.benchmark`, `.finetune`)."""

from __future__ import annotations


def parse_config_overrides(rest: list[str]) -> dict[str, str]:
    """`--config.FIELD=VALUE` / `--config.FIELD VALUE` arguments -> {FIELD: VALUE} (values unparsed).

    Raises ValueError for any other argument or a field without a value.
    """
    out, i = {}, 0
    while i < len(rest):
        arg = rest[i]
        if not arg.startswith("--config."):
            raise ValueError(f"unrecognised argument {arg!r}; config fields are set with --config.FIELD=VALUE")
        key = arg[len("--config."):]
        if "=" in key:
            key, value = key.split("=", 1)
        elif i + 1 < len(rest) and not rest[i + 1].startswith("--"):
            i += 1
            value = rest[i]
        else:
            raise ValueError(f"{arg} needs a value: {arg}=VALUE")
        out[key] = value
        i += 1
    return out
