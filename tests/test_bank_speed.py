"""What keeps `python -m parc_jax.score` fast: width buckets that change no score, imports limited to
what the command uses, no model built for a cached probe set."""

import subprocess
import sys

import numpy as np
import pytest

from parc_jax import estimators, models
from parc_jax.bank import VARIANTS, ProbeRecord, _entries, _ranking, write_probe_file
from parc_jax.extract import ProbeSet


def _features(n, d, num_classes, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % num_classes
    return (rng.normal(size=(num_classes, d))[labels] + rng.normal(size=(n, d))).astype(np.float32), labels


@pytest.mark.parametrize("variant", [v for v in VARIANTS if _ranking.zero_padding_is_exact(*VARIANTS[v], 40)])
def test_zero_padding_is_exact_where_it_says(variant):
    """Appending zero columns (40 -> 90 > N) keeps the score of every variant declared exact."""
    estimator, options = VARIANTS[variant]
    x, labels = _features(60, 40, 4)
    padded = np.pad(x, ((0, 0), (0, 50)))
    plain, wide = (estimators.score_bank(estimator, np.stack([v]), labels, 4, **options)[0] for v in (x, padded))
    assert float(wide) == pytest.approx(float(plain), rel=1e-4, abs=1e-4)


@pytest.mark.parametrize("variant", ["parc", "logme", "hscore_shrunk"])
def test_zero_padding_changes_the_estimators_not_declared_exact(variant):
    """The declaration is not vacuous: these estimators do see zero columns (see zero_padding_is_exact)."""
    estimator, options = VARIANTS[variant]
    assert not _ranking.zero_padding_is_exact(estimator, options, 40)
    x, labels = _features(60, 40, 4)
    padded = np.pad(x, ((0, 0), (0, 50)))
    plain, wide = (float(estimators.score_bank(estimator, np.stack([v]), labels, 4, **options)[0]) for v in (x, padded))
    assert abs(wide - plain) > 1e-4 * max(1.0, abs(plain))  # 100x float32 noise


def test_parc_with_n_dims_is_not_padded_below_n_dims():
    assert _ranking.zero_padding_is_exact("parc", {"n_dims": 32}, 32)
    assert not _ranking.zero_padding_is_exact("parc", {"n_dims": 32}, 31)
    assert not _ranking.zero_padding_is_exact("parc", {}, 512)


def test_bucket_widths_at_most_double_and_are_few():
    widths = [256, 384, 512, 640, 768, 1024, 1280, 1536]
    assert _ranking.bucket_widths(widths) == [256, 640, 640, 640, 1536, 1536, 1536, 1536]
    assert _ranking.bucket_widths([100]) == [100] and _ranking.bucket_widths([]) == []
    assert _ranking.bucket_widths(widths[::-1]) == [1536, 1536, 1536, 1536, 640, 640, 640, 256]
    for width, bucket in zip(widths, _ranking.bucket_widths(widths)):
        assert width <= bucket <= 2 * width


def test_score_records_shares_programs_across_widths_and_keeps_every_score(monkeypatch):
    """8 widths -> 2 shapes (buckets 56, 120) for the paddable estimators, 8 for LogME; the scores are
    those of single calls."""
    widths = (40, 48, 56, 64, 72, 96, 112, 120)
    records = []
    for m, d in enumerate(widths):
        x, labels = _features(50, d, 5, seed=m)
        probs = np.full((50, 3), 1 / 3, np.float32)
        records.append(ProbeRecord(f"m{m}", ProbeSet(x, probs, labels)))
    seen = {}
    score_bank = estimators.score_bank

    def spy(name, bank, *args, **opts):
        seen.setdefault(name, set()).update(np.shape(x) for x in bank)
        return score_bank(name, bank, *args, **opts)

    monkeypatch.setattr(_ranking._estimators, "score_bank", spy)
    scores = _ranking.score_records(records, ["parc_f32", "knn1", "hscore", "logme"], 5)
    assert len(seen["parc"]) == len(seen["knn"]) == len(seen["hscore"]) == 2 and len(seen["logme"]) == len(widths)
    for variant in ("parc_f32", "knn1", "hscore", "logme"):
        estimator, options = VARIANTS[variant]
        single = [float(score_bank(estimator, [r.probe.features], r.probe.labels, 5, **options)[0]) for r in records]
        np.testing.assert_allclose(scores[variant], single, rtol=1e-4, atol=1e-4)


def test_ranking_probe_files_imports_neither_the_model_zoo_nor_the_datasets(tmp_path):
    paths = []
    for m in range(2):
        x, labels = _features(30, 8, 3, seed=m)
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
