"""Rank a bank of models on one target from their probe sets, with any set of estimators.

`rank_bank(records, estimators)` scores every model with every estimator (one batched call per
estimator via `estimators.score_bank`), ranks the models per estimator (1 = best), and recommends
the model ranked first by the primary estimator (the first one listed; PARC by default).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import time
from collections.abc import Sequence

import jax
import numpy as np

from parc_jax import estimators as _estimators
from parc_jax._io import atomic_open
from parc_jax.bank._probe_files import ProbeRecord

# Named estimator settings: column name -> (estimator, options). "_f32": an exact PCA to 32 dimensions
# first, the PARC paper's f = 32 variants.
VARIANTS: dict[str, tuple[str, dict]] = {
    "parc": ("parc", {}),
    "parc_f32": ("parc", {"n_dims": 32}),
    "logme": ("logme", {}),
    "logme_f32": ("logme", {"n_dims": 32}),
    "leep": ("leep", {}),
    "nce": ("nce", {}),
    "nce_eps": ("nce", {"eps": 1e-5}),
    "hscore": ("hscore", {}),
    "hscore_f32": ("hscore", {"n_dims": 32}),
    "hscore_shrunk": ("hscore", {"shrinkage": True}),
    "knn1": ("knn", {"k": 1}),
    "knn1_f32": ("knn", {"k": 1, "n_dims": 32}),
    "knn5": ("knn", {"k": 5}),
    "split_knn1": ("split_knn", {"k": 1}),
    "split_knn1_f32": ("split_knn", {"k": 1, "n_dims": 32}),
    "split_logistic": ("split_logistic", {}),
    "split_logistic_f32": ("split_logistic", {"n_dims": 32}),
    "rsa": ("rsa", {}),
    "rsa_f32": ("rsa", {"n_dims": 32}),
    "dds": ("dds", {}),
    "dds_f32": ("dds", {"n_dims": 32}),
    "sfda": ("sfda", {}),
    "sfda_f32": ("sfda", {"n_dims": 32}),
    "etran": ("etran", {}),
    "etran_f32": ("etran", {"n_dims": 32}),
    "etran_energy": ("etran_energy", {}),
    "etran_lda": ("etran_lda", {}),
    "etran_lda_f32": ("etran_lda", {"n_dims": 32}),
    "ncti": ("ncti", {}),
    "ped": ("ped", {}),
    "ped_logme": ("ped", {"base": "logme"}),
    # NLEEP with 5 mixture components per class, or as many as the probe set allows (N // C) on targets
    # with more than N / 5 classes; "_asis" the SFDA release's mean probability instead of the mean log.
    "nleep": ("nleep", {"components_per_class": "auto"}),
    "nleep_asis": ("nleep", {"components_per_class": "auto", "log": False}),
    "gbc": ("gbc", {}),
    "transrate": ("transrate", {}),
    "lead": ("lead", {}),
    "pactran_dirichlet": ("pactran_dirichlet", {}),
    "pactran_gamma": ("pactran_gamma", {}),
    "pactran_gaussian": ("pactran_gaussian", {}),
    "rankme": ("rankme", {}),
    "linear_valerr": ("linear_valerr", {}),
    "linear_probe": ("linear_probe", {}),
}
#: Variants that compare each model with a reference model's features instead of the labels.
REFERENCE_VARIANTS = ("rsa", "rsa_f32", "dds", "dds_f32")
DEFAULT_ESTIMATORS = ("parc_f32", "logme", "leep", "nce", "hscore", "knn1")


def parse_estimators(spec: str | Sequence[str] | None) -> list[str]:
    """'parc_f32,logme' or a list of names -> validated variant names.

    'all' is every variant that needs only the probe set and its labels (not the reference variants).
    """
    if spec is None:
        return list(DEFAULT_ESTIMATORS)
    names = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    if names == ["all"]:
        return [name for name in VARIANTS if name not in REFERENCE_VARIANTS]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown or not names:
        raise ValueError(f"unknown estimator {', '.join(unknown) or '(none)'}; choose from: {', '.join(VARIANTS)}, all")
    return names


def _ranks(scores: np.ndarray) -> np.ndarray:
    """1 = highest score; ties share the best rank of their group (competition ranking).

    Scores equal to 6 significant digits (float32 noise, e.g. H-score's C - 1 computed as 9.000002)
    count as tied.
    """
    rounded = np.array([float(f"{v:.6g}") for v in scores])
    return np.searchsorted(np.sort(-rounded), -rounded, side="left") + 1  # 1 + the number of better scores


@dataclasses.dataclass
class Ranking:
    """Scores [M] and ranks per estimator for the M models of a bank on one target."""

    records: list[ProbeRecord]
    num_classes: int
    scores: dict[str, np.ndarray]
    seconds: dict[str, float]
    runs: int = 1

    @property
    def primary(self) -> str:
        return next(iter(self.scores))

    def ranks(self, estimator: str) -> np.ndarray:
        return _ranks(self.scores[estimator])

    @property
    def recommended(self) -> ProbeRecord:
        """The model the primary estimator ranks first."""
        return self.records[int(np.argmax(self.scores[self.primary]))]

    def rows(self) -> list[dict]:
        """One dict per model, ordered by the primary estimator's rank."""
        ranks = {name: self.ranks(name) for name in self.scores}
        rows = []
        for m, record in enumerate(self.records):
            row = {
                "model": record.model,
                "architecture": record.architecture,
                "source_dataset": record.source_dataset,
                "target_dataset": record.target_dataset,
            }
            for name in self.scores:
                row[name] = float(self.scores[name][m])
                row[f"{name}_rank"] = int(ranks[name][m])
            rows.append(row)
        return sorted(rows, key=lambda r: (r[f"{self.primary}_rank"], r["model"]))

    def table(self) -> str:
        """The ranking as aligned plain text, best model (by the primary estimator) first."""
        rows = self.rows()
        names = list(self.scores)
        width = max(len("model"), *(len(r["model"]) for r in rows))
        source_width = max(len("source"), *(len(r["source_dataset"]) for r in rows))
        header = f"{'model':<{width}}  {'source':<{source_width}}" + "".join(f"  {n:>16}" for n in names)
        lines = [header, "-" * len(header)]
        for r in rows:
            cells = "".join(f"  {r[n]:>10.4g} ({r[n + '_rank']:>2})" for n in names)
            lines.append(f"{r['model']:<{width}}  {r['source_dataset']:<{source_width}}{cells}")
        lines.append("")
        target = self.records[0].target_dataset or "the probe set"
        lines.insert(
            0,
            f"target: {target}, {len(self.records[0].probe)} probe images, {self.num_classes} classes"
            + (f", scores averaged over {self.runs} runs" if self.runs > 1 else ""),
        )
        lines.append(
            "time per estimator (whole bank, incl. compilation): "
            + ", ".join(f"{n} {self.seconds[n]:.2f} s" for n in names)
        )
        best = self.recommended
        lines.append(f"recommended: {best.model} (ranked first by {self.primary})")
        return "\n".join(lines)

    def save(self, path) -> None:
        """Write the table as .csv or .json (chosen by the file extension)."""
        path = str(path)
        rows = self.rows()
        if path.endswith(".json"):
            payload = {
                "target_dataset": self.records[0].target_dataset,
                "probe_size": len(self.records[0].probe),
                "runs": self.runs,
                "num_classes": self.num_classes,
                "primary": self.primary,
                "recommended": self.recommended.model,
                "seconds": self.seconds,
                "models": rows,
            }
            with atomic_open(path, "w") as handle:
                json.dump(payload, handle, indent=1)
        elif path.endswith(".csv"):
            with atomic_open(path, "w") as handle:
                writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
        else:
            raise ValueError(f"a ranking is saved as .csv or .json, got {path!r}")


@dataclasses.dataclass
class Timing:
    """Wall time of the timed (post warm-up) `score_bank` calls of one estimator."""

    seconds: list[float] = dataclasses.field(default_factory=list)
    models: list[int] = dataclasses.field(default_factory=list)

    def summary(self) -> dict[str, float]:
        total = float(np.sum(self.seconds)) if self.seconds else 0.0
        count = int(np.sum(self.models)) if self.models else 0
        return {
            "calls": len(self.seconds),
            "models_scored": count,
            "total_s": total,
            "mean_s_per_bank": total / len(self.seconds) if self.seconds else math.nan,
            "mean_ms_per_model": 1e3 * total / count if count else math.nan,
        }


def _shared_labels(records: Sequence[ProbeRecord]) -> np.ndarray:
    labels = records[0].probe.labels
    for record in records[1:]:
        if record.probe.labels.shape != labels.shape or not np.array_equal(record.probe.labels, labels):
            raise ValueError(
                f"{record.model} was probed on different labels than {records[0].model}; "
                "rank models on the same probe set"
            )
    return labels


def score_records(
    records: Sequence[ProbeRecord],
    names: Sequence[str],
    num_classes: int,
    *,
    references: Sequence[np.ndarray] | None = None,
    timings: dict[str, Timing] | None = None,
    warmed: set | None = None,
) -> dict[str, np.ndarray]:
    """Scores M models probed on the same images with every named estimator variant.

    Each estimator runs once over the whole bank (`estimators.score_bank`); the reference estimators
    (RSA, DDS) once per group of models sharing a reference (a bank of mixed feature widths shares a few
    compiled programs: `score_bank` pads where that is exact). Scores are oriented so that
    higher predicts better transfer: an estimator whose spec says `higher_is_better=False` (a cost or an
    error rate) is negated. When `timings` is given, each call is timed (`block_until_ready`) and
    appended to `timings[name]`; a call whose input shapes are not yet in `warmed` is first run once
    untimed, so that compilation is not counted.

    Args:
      records: the bank's probe sets, all with the same labels.
      names: variant names of `VARIANTS`.
      num_classes: C, the number of target classes.
      references: per record, the [N, R] features of its reference model on the same images (needed
        by the variants in `REFERENCE_VARIANTS` only).
      timings: where to record wall times, per variant name.
      warmed: shape signatures already compiled (updated in place).

    Returns:
      {variant name: [M] float64 scores}.
    """
    labels = _shared_labels(records)
    scores = {}
    for name in names:
        estimator, options = VARIANTS[name]
        spec = _estimators.spec(estimator)
        bank = [getattr(r.probe, spec.input_kind) for r in records]
        groups = [(list(range(len(records))), labels, num_classes)]
        if spec.target == "reference":
            if references is None:
                raise ValueError(
                    f"{name} compares each model with a reference model's features; name the "
                    "reference model (config.reference_model)"
                )
            by_reference: dict[int, list[int]] = {}
            for m, reference in enumerate(references):
                by_reference.setdefault(id(reference), []).append(m)
            groups = [(members, references[members[0]], None) for members in by_reference.values()]

        def call(estimator=estimator, bank=bank, options=options, groups=groups, spec=spec):
            values = np.empty(len(records))
            for members, target, classes in groups:
                group = jax.block_until_ready(
                    _estimators.score_bank(estimator, [bank[m] for m in members], target, classes, **options)
                )
                values[members] = np.asarray(group, np.float64)
            return values if spec.higher_is_better else -values

        signature = (name, tuple(x.shape for x in bank), labels.shape, num_classes)
        if timings is not None and warmed is not None and signature not in warmed:
            call()
            warmed.add(signature)
        start = time.perf_counter()
        values = call()
        if timings is not None:
            timings.setdefault(name, Timing()).seconds.append(time.perf_counter() - start)
            timings[name].models.append(len(records))
        scores[name] = values
    return scores


def rank_bank(
    records: Sequence[ProbeRecord],
    estimators: Sequence[str] = DEFAULT_ESTIMATORS,
    *,
    num_classes: int | None = None,
) -> Ranking:
    """Score and rank M models probed on the same images.

    Args:
      records: one `ProbeRecord` per model, all with the same labels.
      estimators: variant names (see `VARIANTS`); the first is the primary estimator.
      num_classes: C; by default from the records, else max(label) + 1.
    """
    records = list(records)
    if not records:
        raise ValueError("no probe sets to rank")
    if num_classes is None:
        stated = {r.num_classes for r in records if r.num_classes is not None}
        if len(stated) > 1:
            raise ValueError(f"probe files disagree on num_classes: {sorted(stated)}")
        # the records' labels are checked to agree by score_records
        num_classes = stated.pop() if stated else int(np.max(records[0].probe.labels)) + 1
    timings: dict[str, Timing] = {}
    scores = score_records(records, parse_estimators(list(estimators)), num_classes, timings=timings)
    seconds = {name: timings[name].seconds[-1] for name in scores}
    return Ranking(records=records, num_classes=num_classes, scores=scores, seconds=seconds)


def average(rankings: Sequence[Ranking]) -> Ranking:
    """Mean scores (and summed times) of rankings of the same models on different probe sets."""
    first = rankings[0]
    if len(rankings) == 1:
        return first
    return Ranking(
        records=first.records,
        num_classes=first.num_classes,
        scores={name: np.mean([r.scores[name] for r in rankings], axis=0) for name in first.scores},
        seconds={name: float(sum(r.seconds[name] for r in rankings)) for name in first.scores},
        runs=len(rankings),
    )
