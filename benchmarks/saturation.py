"""SFDA and ETran's LDA term saturate when N - C < D (as released); with `n_dims=` they grade the models.

A bank of M models with class structure of increasing strength (model m: class means scaled by s_m) at
N = 500, C = 37 and D = 2048, so N - C < D. Without a PCA the in-sample Fisher classifier separates every
class perfectly and both scores sit at their ceiling for every model; after an exact PCA to `n_dims`
dimensions they follow the class structure. Writes benchmarks/results/saturation.{json,md}.

    python benchmarks/saturation.py
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
import scipy.stats

from parc_jax import estimators
from parc_jax._io import atomic_write, machine_stamp

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
M, N, C, D = 6, 500, 37, 2048
STRENGTHS = np.linspace(0.02, 0.2, M)


def make_bank(seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = np.arange(N) % C
    centers = rng.normal(size=(C, D))
    bank = np.stack([s * centers[labels] + rng.normal(size=(N, D)) for s in STRENGTHS]).astype(np.float32)
    return bank, labels.astype(np.int32)


def main() -> None:
    bank, labels = make_bank()
    rows = []
    for name in ("sfda", "etran_lda"):
        for n_dims in (None, 32, 64):
            scores = np.asarray(estimators.score_bank(name, bank, labels, C, n_dims=n_dims), np.float64)
            rows.append(
                {
                    "estimator": name,
                    "n_dims": n_dims,
                    "scores": scores.tolist(),
                    "spread": float(scores.max() - scores.min()),
                    "spearman_with_strength": float(scipy.stats.spearmanr(scores, STRENGTHS).statistic)
                    if np.ptp(scores) > 0
                    else None,
                }
            )
    machine = machine_stamp()
    lines = [
        "# SFDA and ETran-LDA with and without PCA when N - C < D",
        "",
        f"{machine['date']}; {machine['cpu']} ({machine['cores']} cores); "
        f"JAX {machine['jax']} on {machine['backend']}.",
        f"Bank: {M} models, N = {N}, C = {C}, D = {D}; model m has class means scaled by "
        f"{', '.join(f'{s:.2f}' for s in STRENGTHS)} (stronger class structure = better).",
        "",
        "| estimator | n_dims | scores (weakest -> strongest) | spread | Spearman with strength |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        rho = "n/a (constant)" if r["spearman_with_strength"] is None else f"{r['spearman_with_strength']:.2f}"
        scores = ", ".join(f"{v:.6f}" for v in r["scores"])
        lines.append(f"| {r['estimator']} | {r['n_dims'] or 'all'} | {scores} | {r['spread']:.2e} | {rho} |")
    atomic_write(RESULTS / "saturation.json", json.dumps({"machine": machine, "rows": rows}, indent=1) + "\n")
    atomic_write(RESULTS / "saturation.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
