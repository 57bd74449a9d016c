"""What keeps `python -m parc_jax.score` fast: banks of mixed widths sharing programs, imports limited
to what the command uses, no model built for a cached probe set."""

import subprocess
import sys

import numpy as np
from _synthetic import class_clusters

from parc_jax import estimators, models
from parc_jax.bank import VARIANTS, ProbeRecord, _entries, _ranking, write_probe_file
from parc_jax.estimators import _engine
from parc_jax.extract import ProbeSet


def test_score_records_shares_programs_across_widths_and_keeps_every_score(monkeypatch):
    """8 widths -> 1 bank program for every estimator that pads exactly, LogME included; the scores are
    those of single calls."""
    widths = (40, 48, 56, 64, 72, 96, 112, 120)
    records = []
    for m, d in enumerate(widths):
        x, labels = class_clusters(50, d, 5, seed=m)
        probs = np.full((50, 3), 1 / 3, np.float32)
        records.append(ProbeRecord(f"m{m}", ProbeSet(x, probs, labels)))
    seen = {}
    score_bank = _engine._score_bank

    def spy(spec, xs, *args, **opts):
        seen.setdefault(spec.name, set()).add(np.shape(xs))
        return score_bank(spec, xs, *args, **opts)

    monkeypatch.setattr(_engine, "_score_bank", spy)
    variants = ["parc_f32", "knn1", "hscore", "logme"]
    scores = _ranking.score_records(records, variants, 5)
    assert {name: len(shapes) for name, shapes in seen.items()} == {"parc": 1, "knn": 1, "hscore": 1, "logme": 1}
    for variant in variants:
        estimator, options = VARIANTS[variant]
        single = [float(estimators.get(estimator)(r.probe.features, r.probe.labels, 5, **options)) for r in records]
        np.testing.assert_allclose(scores[variant], single, rtol=1e-4, atol=1e-4)


def test_ranking_probe_files_imports_neither_the_model_zoo_nor_the_datasets(tmp_path):
    paths = []
    for m in range(2):
        x, labels = class_clusters(30, 8, 3, seed=m)
        path = tmp_path / f"m{m}.npz"
        write_probe_file(path, ProbeRecord(f"m{m}", ProbeSet(x, np.full((30, 4), 0.25, np.float32), labels)))
        paths.append(str(path))
    heavy = ("flax", "optax", "orbax", "tensorflow", "tensorflow_datasets", "matplotlib", "sklearn", "scipy.stats")
    code = (
        "import sys; from parc_jax import score; "
        f"assert score.main(['--probes', *{paths!r}, '--compilation-cache', 'off', "
        f"'--out', {str(tmp_path / 'r.json')!r}]) == 0; "
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert run.stdout.strip().splitlines()[-1] == "[]"


def test_bank_entries_find_weights_without_building_the_model(monkeypatch):
    expected = {name: models.describe(name) for name in ("efficientnet_lite0", "cnn_small")}

    def no_describe(name):
        raise AssertionError(f"models.describe({name!r}) builds the model's shapes")

    monkeypatch.setattr(models, "describe", no_describe)
    for name, info in expected.items():
        assert _entries._describe(name, "weights") == info.weights
        assert _entries._describe(name, "source_dataset") == info.source_dataset
    assert [e.source_dataset for e in _entries.load_bank("efficientnet_lite0,cnn_small")] == [
        expected["efficientnet_lite0"].source_dataset,
        expected["cnn_small"].source_dataset,
    ]
