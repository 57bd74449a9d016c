"""The PARC release's bank configs: models as in the release's oracle tables, checkpoints found by the
release's file naming in the directory the user names, one-line errors listing what is missing."""

import csv
import pathlib

import pytest

from parc_jax import bank, evaluation

TABLES = pathlib.Path(evaluation.__file__).parent / "tables" / "parc_release"


def _pairs(oracle):
    with open(TABLES / oracle, newline="") as handle:
        return {(r["Architecture"], r["Source Dataset"]) for r in csv.DictReader(handle)}


@pytest.mark.parametrize(
    "name,oracle,count", [("parc_controlled", "oracle_controlled.csv", 32), ("parc_all", "oracle_all.csv", 71)]
)
def test_bank_has_the_oracle_models(tmp_path, monkeypatch, name, oracle, count):
    for architecture, source in _pairs(oracle):
        (tmp_path / f"{architecture}_{source}.pth").touch()
    monkeypatch.setenv("PARC_RELEASE_MODELS", str(tmp_path))
    entries = bank.load_bank(name)
    assert len(entries) == count
    assert {(e.architecture, e.source_dataset) for e in entries} == _pairs(oracle)
    assert all(pathlib.Path(e.weights).parent == tmp_path.resolve() for e in entries)
    assert {e.model for e in entries} <= {"resnet50", "resnet18", "googlenet", "alexnet", "resnet101"}
    assert "resnet50@imagenet" in {e.name for e in entries}


def test_missing_checkpoints_in_one_line(tmp_path, monkeypatch):
    pairs = sorted(_pairs("oracle_controlled.csv"))
    for architecture, source in pairs[2:]:
        (tmp_path / f"{architecture}_{source}.pth").touch()
    monkeypatch.setenv("PARC_RELEASE_MODELS", str(tmp_path))
    with pytest.raises(ValueError) as error:
        bank.load_bank("parc_controlled")
    message = str(error.value)
    assert "\n" not in message and "2 of 32 checkpoints missing" in message
    for architecture, source in pairs[:2]:
        assert f"{architecture}_{source}.pth" in message


def test_no_directory_named(monkeypatch):
    monkeypatch.delenv("PARC_RELEASE_MODELS", raising=False)
    with pytest.raises(ValueError, match="PARC_RELEASE_MODELS"):
        bank.load_bank("parc_all")


def test_builtin_banks_list_the_release_banks():
    assert {"parc_controlled", "parc_all"} <= set(bank.builtin_banks())
    assert "_parc_release" not in bank.builtin_banks()
