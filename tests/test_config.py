"""One config mechanism for every command: config files, --config.KEY=VALUE, lists split on commas."""

import pytest

from parc_jax import _config, bank, benchmark, finetune
from parc_jax.benchmark import __main__ as benchmark_cli
from parc_jax.finetune import __main__ as finetune_cli


@pytest.mark.parametrize(
    "defaults",
    [bank.default_config(), benchmark.default_config(), finetune.default_config()],
    ids=["score", "benchmark", "finetune"],
)
def test_every_command_splits_lists_on_commas(defaults):
    config = _config.apply_overrides(defaults, {"targets" if "targets" in defaults else "models": "digits,mnist5k"})
    key = "targets" if "targets" in defaults else "models"
    assert config[key] == ("digits", "mnist5k")
    assert _config.apply_overrides(defaults, {key: "(' digits', 'mnist5k')"})[key] == ("digits", "mnist5k")
    assert _config.apply_overrides(defaults, {key: "digits"})[key] == ("digits",)


def test_values_take_the_type_of_the_default():
    c = finetune.default_config()
    c = _config.apply_overrides(c, {"learning_rates": "0.1,0.01", "num_epochs": "3", "augment": "false"})
    assert c.learning_rates == (0.1, 0.01) and c.num_epochs == 3.0 and c.augment is False
    for key, text, message in [
        ("batch_size", "2.5", "expects an integer"),
        ("augment", "maybe", "expects true or false"),
        ("learning_rates", "(0.1,", "is not a list"),
        ("nonsense", "1", "unknown config field 'nonsense'"),
    ]:
        with pytest.raises(ValueError, match=message):
            _config.apply_overrides(c, {key: text})


def test_overrides_on_the_command_line():
    assert _config.split_overrides(["--config.runs=2", "--config.targets", "a,b"]) == {"runs": "2", "targets": "a,b"}
    with pytest.raises(ValueError, match="needs a value"):
        _config.split_overrides(["--config.runs"])
    with pytest.raises(ValueError, match="unrecognised argument"):
        _config.split_overrides(["--bogus"])


def test_score_command_splits_estimator_lists(tmp_path, capsys):
    from parc_jax import score  # noqa: PLC0415

    argv = ["--probes", str(tmp_path / "none.npz"), "--config.estimators=parc,bogus"]
    assert score.main(argv) == 2
    assert "unknown estimator bogus" in capsys.readouterr().err  # "parc" was accepted: the list was split


def test_benchmark_command_splits_target_lists(tmp_path, capsys):
    argv = [
        "--config.bank=offline",
        "--config.targets=digits,digits",
        "--oracle",
        "parc_controlled",
        "--output-dir",
        str(tmp_path),
    ]
    assert benchmark_cli.main(argv) == 2
    assert "lists a dataset twice" in capsys.readouterr().err  # two targets, not one named "digits,digits"


def test_finetune_command_splits_target_lists(tmp_path, capsys):
    argv = [
        "--models",
        "cnn_small",
        "--config.targets=digits,no_such_dataset",
        "--workdir",
        str(tmp_path),
        "--data-dir",
        str(tmp_path / "data"),
        "--no-progress",
    ]
    assert finetune_cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "no_such_dataset" in err and "digits,no_such_dataset" not in err  # two targets, the second unknown


def test_compilation_cache_can_be_turned_off(monkeypatch):
    assert _config.enable_compilation_cache("off") is None
    monkeypatch.setenv(_config.COMPILATION_CACHE_ENV, "off")
    assert _config.enable_compilation_cache() is None
