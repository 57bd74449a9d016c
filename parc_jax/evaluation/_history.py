"""History-aware prediction of fine-tuned accuracy: what past fine-tunes say, corrected by probe scores.

A practitioner who has fine-tuned some models of a bank on other targets asks which model to
fine-tune on a new one. :func:`fit_history` fits, on the past targets of a :class:`History` (an
oracle table read by :func:`read_history`), the linear mixed model

    y[m, t] = mu_t + b_m + sum_k w_k z_k[m, t] + e[m, t],      e ~ N(0, sigma^2),
    b_m = gamma_0 + x_m . gamma + u_m,                          u ~ N(0, tau^2),

with y[m, t] the fine-tuned accuracy of model m on past target t, mu_t the target's level, b_m
the model's transferability across targets (the *prior*), z_k[m, t] the score of probe estimator
k z-scored over the models probed on t (so each target is normalised by its own scores only), and
x_m the model's standardised metadata (log10 parameter count, depth). Given the variance
components, the fit minimises the penalised least squares

    sum_{(m, t) observed} (y[m, t] - mu_t - b_m - z[m, t] . w)^2 + (sigma^2 / tau^2) sum_m u_m^2
      + alpha |w|^2,

which shrinks each model's mean residual towards the metadata regression by
n_m tau^2 / (n_m tau^2 + sigma^2) (n_m = its past targets): a model seen on few targets, or a world
where models have no lasting quality (tau^2 = 0), leans on the metadata and the probes (best linear
unbiased prediction; Henderson, Biometrics 1975; Searle, Casella & McCulloch, "Variance
Components", 1992). sigma^2 and tau^2 are moment estimates from the unpenalised fit (u free):
sigma^2 = RSS / (n - rank), tau^2 = max(0, var(b_hat - [1, x] gamma_hat) - mean_m sigma^2 / n_m).

The prediction on a new target t* (:meth:`HistoryModel.predict`), with z z-scored over the models
given, is mean_t mu_t + b_m + z[m, t*] . w for a model with history. w is a *within-model* weight
(how a model's accuracy moves with its probe score from target to target, its level b_m known); a
model without history has no b_m, so it is predicted by the pooled regression of y[m, t] - mu_t on
[1, x_m, z[m, t]] over the past fine-tunes (ridge alpha on the probe weights), which carries the
probe's *whole* association with accuracy, between models included. With a complete table, no
probe and no metadata, b_m ranks models as their mean accuracy over the past targets (the "static
ranker"); with missing cells, mu_t keeps a model seen only on hard targets from looking bad.
Learned rankers built on the same idea: Model Spider (Zhang et al., NeurIPS 2023), TransferGraph
(Li et al., arXiv 2404.03988). Host-side NumPy in float64: the systems are tiny (targets + models +
probes unknowns) and their conditioning matters more than speed.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike

from parc_jax.evaluation._oracle import ORACLE_COLUMNS, oracle_path, read_oracle
from parc_jax.evaluation._tables import Table, key_of, read_table, to_float

log = logging.getLogger(__name__)

ModelKey = tuple[str, str]  # (Architecture, Source Dataset)

#: Metadata names of :class:`History`: log10 of the `Params` column, the `Depth` column.
METADATA_PARAMS = "log10_params"
METADATA_DEPTH = "depth"
_METADATA_COLUMNS = {"Params": METADATA_PARAMS, "Depth": METADATA_DEPTH}

#: Where a prediction comes from: the model's own past fine-tunes, its metadata alone, or neither
#: (the mean model of the history).
BASIS_HISTORY, BASIS_METADATA, BASIS_MEAN = "history", "metadata", "mean"


@dataclasses.dataclass(frozen=True)
class History:
    """Past fine-tunes as a models x targets matrix, with probe scores and model metadata.

    Attributes:
      models: the M models, as (architecture, source dataset).
      targets: the T targets.
      accuracy: [M, T] fine-tuned accuracy; NaN where the model was not fine-tuned on the target
        (an empty, zero or negative Oracle cell: the PARC release's "not trained").
      probes: {estimator name: [M, T] probe scores}, NaN where not probed.
      metadata: {name: [M]} per-model metadata (`METADATA_PARAMS`, `METADATA_DEPTH`), NaN where unknown.
    """

    models: tuple[ModelKey, ...]
    targets: tuple[str, ...]
    accuracy: np.ndarray
    probes: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)
    metadata: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        shape = (len(self.models), len(self.targets))
        if len(set(self.models)) != shape[0] or len(set(self.targets)) != shape[1]:
            raise ValueError("history: a model or a target is listed twice")
        for name, values in {"accuracy": self.accuracy, **self.probes}.items():
            if np.shape(values) != shape:
                raise ValueError(f"history {name}: shape {np.shape(values)}, expected (models, targets) = {shape}")
        for name, values in self.metadata.items():
            if np.shape(values) != shape[:1]:
                raise ValueError(f"history metadata {name}: shape {np.shape(values)}, expected ({shape[0]},)")

    def without(self, *, targets: Sequence[str] = (), models: Sequence[ModelKey] = ()) -> History:
        """The history with some targets (columns) and models (rows) left out."""
        keep_t = [j for j, t in enumerate(self.targets) if t not in set(targets)]
        keep_m = [i for i, m in enumerate(self.models) if m not in set(models)]
        return History(
            models=tuple(self.models[i] for i in keep_m),
            targets=tuple(self.targets[j] for j in keep_t),
            accuracy=self.accuracy[np.ix_(keep_m, keep_t)],
            probes={k: v[np.ix_(keep_m, keep_t)] for k, v in self.probes.items()},
            metadata={k: v[keep_m] for k, v in self.metadata.items()},
        )


def read_history(
    table: Table,
    *,
    probes: Sequence[str] = (),
    num_params: Mapping[str, float] | None = None,
    depth: Mapping[str, float] | None = None,
) -> History:
    """Reads an oracle table (optionally with probe-score and metadata columns) as a :class:`History`.

    Args:
      table: a CSV path, a built-in oracle name (:data:`parc_jax.evaluation.BUILTIN_ORACLES`), a list
        of row dicts or a dict of columns, with the columns `Architecture, Source Dataset, Target
        Dataset, Oracle` (one row per transfer). Optional columns: `Params` (parameter count) and
        `Depth` (layers), per architecture and source; any column named in `probes`.
      probes: columns holding probe scores of the transfers (e.g. "parc_f32", "logme").
      num_params, depth: {architecture: value}, filling the metadata where the table has none.

    Raises:
      ValueError: as :func:`parc_jax.evaluation.read_oracle`; a probe column that is missing or not
        numeric; a model whose Params or Depth differ between rows.
    """
    if isinstance(table, (str, os.PathLike)):
        table = oracle_path(table)
    columns = read_table(table, "history", (*ORACLE_COLUMNS, *probes))
    oracle = read_oracle({c: columns[c] for c in ORACLE_COLUMNS})
    models = tuple(dict.fromkeys((a, s) for a, s, _ in oracle))
    targets = tuple(dict.fromkeys(t for _, _, t in oracle))
    row_of = {m: i for i, m in enumerate(models)}
    col_of = {t: j for j, t in enumerate(targets)}
    cells = [(row_of[(a, s)], col_of[t]) for a, s, t in oracle]
    rows, cols = np.array(cells).T

    def matrix(values) -> np.ndarray:
        out = np.full((len(models), len(targets)), np.nan)
        out[rows, cols] = values
        return out

    accuracy = matrix(list(oracle.values()))
    not_trained = int(np.sum(accuracy <= 0))
    if not_trained:
        log.info("history: %d transfer(s) with Oracle <= 0 read as not fine-tuned", not_trained)
    accuracy[accuracy <= 0] = np.nan
    scores = {name: matrix([to_float(v, "history", name, i) for i, v in enumerate(columns[name])]) for name in probes}
    metadata = {}
    for column, name in _METADATA_COLUMNS.items():
        given = {METADATA_PARAMS: num_params, METADATA_DEPTH: depth}[name] or {}
        values = np.array([float(given.get(a, math.nan)) for a, _ in models])
        if column in columns:
            values = np.fmin(values, _per_model(columns[column], rows, len(models), column))  # fmin: NaN-aware fill
        if name == METADATA_PARAMS:
            values = np.log10(np.where(values > 0, values, np.nan))
        if np.isfinite(values).any():
            metadata[name] = values
    return History(models=models, targets=targets, accuracy=accuracy, probes=scores, metadata=metadata)


def _per_model(cells: Sequence, rows: np.ndarray, num_models: int, column: str) -> np.ndarray:
    """A per-model column (the same value on every row of a model, or empty) as [M]; NaN = unknown."""
    out = np.full(num_models, np.nan)
    for i, (row, cell) in enumerate(zip(rows, cells)):
        value = to_float(cell, "history", column, i)
        if math.isnan(value):
            continue
        if math.isfinite(out[row]) and out[row] != value:
            raise ValueError(
                f"history table: column {column!r} row {i} holds {value}, but an earlier row of the "
                f"same model holds {out[row]}; give one value per model"
            )
        out[row] = value
    return out


def zscore_per_target(scores: ArrayLike) -> np.ndarray:
    """Probe scores [M, T] z-scored per target over the models probed on it; NaN (not probed) -> 0.

    z[m, t] = (s[m, t] - mean_m s[., t]) / std_m s[., t] (population std, over the finite scores of
    column t). A target where every probed model has the same score gives z = 0 (no information).
    """
    s = np.asarray(scores, np.float64)
    finite = np.isfinite(s)
    count = finite.sum(axis=0)
    filled = np.where(finite, s, 0.0)
    mean = filled.sum(axis=0) / np.maximum(count, 1)
    centred = np.where(finite, s - mean, 0.0)
    std = np.sqrt((centred**2).sum(axis=0) / np.maximum(count, 1))
    return np.where(std > 0, centred / np.where(std > 0, std, 1.0), 0.0)


@dataclasses.dataclass(frozen=True)
class HistoryPrediction:
    """Predicted fine-tuned accuracy of some models on a new target.

    Attributes:
      models: the models, in the order asked for.
      values: [M] predicted accuracies (ranking is what matters; the level is the mean past target's).
      basis: per model, `BASIS_HISTORY` (its own past fine-tunes), `BASIS_METADATA` (no history: its
        metadata) or `BASIS_MEAN` (no history, no usable metadata: the history's mean model).
      past_targets: [M] number of past targets the model was fine-tuned on.
      notes: what was left out or imputed, in words.
    """

    models: tuple[ModelKey, ...]
    values: np.ndarray
    basis: tuple[str, ...]
    past_targets: np.ndarray
    notes: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class HistoryModel:
    """The fitted history model (:func:`fit_history`); :meth:`predict` ranks models on a new target.

    Attributes:
      models: the models with history, and `prior` [M_H] their mean_t mu_t + b_m.
      past_targets: [M_H] number of past targets of each.
      probes, weights: the probe estimators used and their within-model weights w (accuracy per
        standard deviation of the target's scores).
      metadata, metadata_mean, metadata_std: the metadata used and its standardisation over the
        models with history.
      new_level, new_weights: the pooled regression for models without history: level (at the
        mean metadata, z = 0) and weights [P + K] on (standardised metadata, z).
      sigma2, tau2: the variance components (NaN: not estimable, no shrinkage).
      notes: metadata or probes left out, and why.
    """

    models: tuple[ModelKey, ...]
    prior: np.ndarray
    past_targets: np.ndarray
    probes: tuple[str, ...]
    weights: np.ndarray
    metadata: tuple[str, ...]
    metadata_mean: np.ndarray
    metadata_std: np.ndarray
    new_level: float
    new_weights: np.ndarray
    sigma2: float
    tau2: float
    notes: tuple[str, ...] = ()

    def predict(
        self,
        models: Sequence[ModelKey],
        *,
        probe_scores: Mapping[str, ArrayLike] | None = None,
        metadata: Mapping[str, ArrayLike] | None = None,
    ) -> HistoryPrediction:
        """Predicts the fine-tuned accuracy of `models` on a new target.

        Args:
          models: (architecture, source) of each model to rank.
          probe_scores: {estimator: [M] scores on the new target}, one per probe the model was fitted
            with; z-scored over the given models with a finite score (a missing score counts as the
            mean, z = 0).
          metadata: {name: [M]} metadata of the given models, used for those without history.

        Raises:
          ValueError: a probe of the fit missing from `probe_scores`, or arrays of the wrong length.
        """
        models = tuple((key_of(a), key_of(s)) for a, s in models)
        n = len(models)
        missing = [p for p in self.probes if p not in (probe_scores or {})]
        if missing:
            raise ValueError(
                f"the history model was fitted with probe(s) {', '.join(missing)}: pass their scores "
                "on the new target as probe_scores, or fit without them"
            )
        notes = list(self.notes)
        z = np.zeros((n, len(self.probes)))
        for k, name in enumerate(self.probes):
            scores = _vector(probe_scores[name], n, f"probe_scores[{name!r}]")
            if not np.isfinite(scores).all():
                notes.append(f"{int(np.sum(~np.isfinite(scores)))} model(s) without a {name} score: its mean used")
            z[:, k] = zscore_per_target(scores[:, None])[:, 0]
        row_of = {m: i for i, m in enumerate(self.models)}
        known = np.array([m in row_of for m in models], bool)
        values = np.full(n, np.nan)
        values[known] = self.prior[[row_of[m] for m in models if m in row_of]]
        x = np.full((n, len(self.metadata)), np.nan)
        for j, name in enumerate(self.metadata):
            if metadata is not None and name in metadata:
                given = _vector(metadata[name], n, f"metadata[{name!r}]")
                x[:, j] = (given - self.metadata_mean[j]) / self.metadata_std[j]
        has_meta = np.isfinite(x).all(axis=1) & bool(self.metadata)
        new = ~known
        values[known] += z[known] @ self.weights
        values[new] = self.new_level + np.column_stack([np.where(has_meta[:, None], x, 0.0), z])[new] @ self.new_weights
        basis = tuple(BASIS_HISTORY if k else (BASIS_METADATA if h else BASIS_MEAN) for k, h in zip(known, has_meta))
        if (~known).any():
            notes.append(
                f"{int((~known).sum())} model(s) without history: "
                f"{int((new & has_meta).sum())} with metadata, {int((new & ~has_meta).sum())} at its mean"
            )
        past = np.array([self.past_targets[row_of[m]] if m in row_of else 0 for m in models], int)
        return HistoryPrediction(models=models, values=values, basis=basis, past_targets=past, notes=tuple(notes))


def _vector(values: ArrayLike, n: int, name: str) -> np.ndarray:
    out = np.asarray(values, np.float64).reshape(-1)
    if out.size != n:
        raise ValueError(f"{name} has {out.size} values for {n} models")
    return out


def fit_history(
    history: History, *, probes: Sequence[str] = (), metadata: Sequence[str] = (), alpha: float = 1.0
) -> HistoryModel:
    """Fits the history model (module docstring) on every target of `history`.

    Leave the target being predicted out first (`history.without(targets=[t])`); the fit sees
    nothing of it.

    Args:
      history: the past fine-tunes.
      probes: names of `history.probes` whose z-scored scores correct the prior; a past cell without
        a score counts as the target's mean (z = 0).
      metadata: names of `history.metadata` (`METADATA_PARAMS`, `METADATA_DEPTH`) regressed on by the
        prior; one unknown for a model with history, or constant, is left out (see `notes`).
      alpha: ridge penalty on the probe weights, in squared accuracy units (z has unit variance per
        target, so alpha = 1 weighs like one extra observation per probe).

    Returns:
      The fitted :class:`HistoryModel`.

    Raises:
      ValueError: an unknown probe or metadata name, a negative alpha, or no fine-tune at all.
    """
    unknown = [p for p in probes if p not in history.probes]
    if unknown:
        raise ValueError(
            f"no probe scores named {', '.join(unknown)} in the history (it has: {', '.join(history.probes) or 'none'})"
        )
    bad = [m for m in metadata if m not in (METADATA_PARAMS, METADATA_DEPTH)]
    if bad:
        raise ValueError(f"unknown metadata {', '.join(bad)}; choose from {METADATA_PARAMS}, {METADATA_DEPTH}")
    if not alpha >= 0:
        raise ValueError(f"alpha must be >= 0, got {alpha}")
    observed = np.isfinite(history.accuracy)
    if not observed.any():
        raise ValueError("the history has no fine-tuned accuracy to learn from")
    rows, cols = np.nonzero(observed)
    y = history.accuracy[rows, cols]
    with_history = np.flatnonzero(observed.any(axis=1))
    past_targets = observed.sum(axis=1)[with_history]
    position = np.full(len(history.models), -1)
    position[with_history] = np.arange(with_history.size)
    notes = []

    z = np.zeros((y.size, len(probes)))
    for k, name in enumerate(probes):
        z[:, k] = zscore_per_target(history.probes[name])[rows, cols]
        unscored = int(np.sum(~np.isfinite(history.probes[name][rows, cols])))
        if unscored:
            notes.append(f"{unscored} of {y.size} past fine-tunes without a {name} score (z = 0)")
    used, columns = [], []
    for name in metadata:
        values = history.metadata.get(name, np.full(len(history.models), np.nan))[with_history]
        if not np.isfinite(values).all():
            notes.append(f"metadata {name} left out: unknown for {int(np.sum(~np.isfinite(values)))} model(s)")
        elif np.all(values == values[0]):
            notes.append(f"metadata {name} left out: the same for every model")
        else:
            used.append(name)
            columns.append(values)
    raw = np.stack(columns, axis=1) if columns else np.zeros((with_history.size, 0))
    mean, std = raw.mean(axis=0), raw.std(axis=0)
    x = (raw - mean) / np.where(std > 0, std, 1.0)

    targets = np.eye(len(history.targets))[cols]
    models = np.eye(with_history.size)[position[rows]]
    sigma2, tau2 = _variance_components(y, targets, models, z, x, past_targets)
    if not math.isfinite(tau2):
        notes.append("variance components not estimable (too few past fine-tunes): no shrinkage of the prior")
        rho = 0.0
    elif tau2 == 0.0:
        notes.append("no lasting model effect beyond the metadata (tau^2 = 0): prior from metadata only")
        rho = math.inf
    else:
        rho = sigma2 / tau2
    b, w, mu = _penalised_fit(y, targets, models, z, x, position[rows], rho=rho, alpha=alpha)
    pooled = np.column_stack([np.ones(y.size), x[position[rows]], z])
    ridge = np.sqrt(alpha) * np.eye(pooled.shape[1])[1 + x.shape[1] :]
    beta = np.linalg.lstsq(
        np.vstack([pooled, ridge]), np.concatenate([y - mu[cols], np.zeros(len(ridge))]), rcond=None
    )[0]
    return HistoryModel(
        models=tuple(history.models[i] for i in with_history),
        prior=mu.mean() + b,
        past_targets=past_targets,
        probes=tuple(probes),
        weights=w,
        metadata=tuple(used),
        metadata_mean=mean,
        metadata_std=std,
        new_level=float(mu.mean() + beta[0]),
        new_weights=beta[1:],
        sigma2=sigma2,
        tau2=tau2,
        notes=tuple(notes),
    )


def _variance_components(y, targets, models, z, x, past_targets) -> tuple[float, float]:
    """Moment estimates (sigma^2, tau^2) from the unpenalised fit y ~ mu_t + b_m + z . w; NaN if not estimable."""
    design = np.column_stack([targets, models, z])
    coef, _, rank, _ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - design @ coef
    dof = y.size - rank
    if dof <= 0:
        return math.nan, math.nan
    sigma2 = float(residual @ residual / dof)
    b_hat = coef[targets.shape[1] : targets.shape[1] + models.shape[1]]
    meta = np.column_stack([np.ones(b_hat.size), x])
    gamma, _, rank_b, _ = np.linalg.lstsq(meta, b_hat, rcond=None)
    spread = b_hat - meta @ gamma
    if b_hat.size <= rank_b:
        return sigma2, math.nan
    return sigma2, max(0.0, float(spread @ spread / (b_hat.size - rank_b) - np.mean(sigma2 / past_targets)))


def _penalised_fit(y, targets, models, z, x, model_of_row, *, rho: float, alpha: float):
    """Solves the penalised least squares of the module docstring; returns (b [M_H], w [K], mu [T]).

    Unknowns: mu [T], gamma [P] (b = x gamma + u), u [M_H] penalised by rho (left out when rho is
    infinite), w [K] penalised by alpha; solved as one stacked least-squares problem.
    """
    n_t, n_p, n_k = targets.shape[1], x.shape[1], z.shape[1]
    n_u = 0 if math.isinf(rho) else models.shape[1]
    blocks = [targets, x[model_of_row]] + ([models] if n_u else []) + [z]
    design = np.column_stack(blocks)
    width = design.shape[1]
    penalty = []
    if n_u and rho > 0:
        penalty.append(np.sqrt(rho) * np.eye(width)[n_t + n_p : n_t + n_p + n_u])
    if n_k and alpha > 0:
        penalty.append(np.sqrt(alpha) * np.eye(width)[width - n_k :])
    stacked = np.vstack([design, *penalty])
    target = np.concatenate([y, np.zeros(stacked.shape[0] - y.size)])
    coef = np.linalg.lstsq(stacked, target, rcond=None)[0]
    mu, gamma = coef[:n_t], coef[n_t : n_t + n_p]
    u = coef[n_t + n_p : n_t + n_p + n_u] if n_u else 0.0
    return x @ gamma + u, coef[width - n_k :], mu
