"""A regular (non-editable) install carries what the commands need: built-in banks, weights, oracle tables."""

import json
import os
import pathlib
import subprocess
import sys
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> pathlib.Path:
    """The package as a wheel, unpacked into a folder of its own (what `pip install` lays out)."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            str(ROOT),
            "-w",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = out.glob("parc_jax-*.whl")
    site = out / "site"
    zipfile.ZipFile(wheel).extractall(site)
    return site


def _run(site: pathlib.Path, code: str, cwd: pathlib.Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_wheel_ships_builtin_bank_and_oracle_tables(installed, tmp_path):
    out = _run(
        installed,
        (
            "import parc_jax, parc_jax.bank as b, parc_jax.evaluation as e\n"
            "print(parc_jax.__file__)\n"
            "print(','.join(b.builtin_banks()))\n"
            "entries = b.load_bank('offline')\n"
            "print(len(entries), sum(x.fingerprint() != '' for x in entries if x.weights not in (None, 'random')))\n"
            "print(len(e.read_oracle('parc_controlled')), len(e.read_oracle('parc_all')))\n"
        ),
        cwd=tmp_path,
    )
    module, banks, counts, oracles = out.split("\n")[:4]
    assert module.startswith(str(installed)), "the test must import the unpacked wheel, not the checkout"
    assert "offline" in banks.split(",")
    assert counts == "10 6"  # ten entries, six with weights files inside the package
    controlled, everything = map(int, oracles.split())
    assert controlled > 0 and everything > controlled


def test_score_runs_from_any_directory_on_the_installed_package(installed, tmp_path):
    """`python -m parc_jax.score` with the built-in bank, from a folder that is not the checkout."""
    env = {**os.environ, "PYTHONPATH": str(installed)}
    argv = [
        sys.executable,
        "-m",
        "parc_jax.score",
        "--bank",
        "offline",
        "--dataset",
        "digits",
        "--probe-size",
        "60",
        "--estimators",
        "knn1,leep",
        "--data-dir",
        str(tmp_path / "data"),
        "--cache-dir",
        str(tmp_path / "probes"),
        "--compilation-cache",
        "off",
        "--out",
        str(tmp_path / "ranking.json"),
    ]
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    ranking = json.loads((tmp_path / "ranking.json").read_text())
    names = {row["model"] for row in ranking["models"]}
    assert {
        "cnn_small@mnist5k",
        "efficientnet_lite0",
    } <= names and "cnn_small@digits" not in names  # own source left out
