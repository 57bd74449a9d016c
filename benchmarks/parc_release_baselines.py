"""Pearson (x100, the PARC protocol) of the trivial baselines on the PARC release's oracle tables:
the learned heuristic (fitted on the other targets' rows), the static ranker (the model's mean
fine-tuned accuracy on the other targets) and depth alone, with and without plasticity.

    python benchmarks/parc_release_baselines.py
"""

import pathlib

import numpy as np

from parc_jax import evaluation

TABLES = pathlib.Path(evaluation.__file__).parent / "tables" / "parc_release"
TARGETS = ("cifar10", "oxford_pets", "cub200", "caltech101", "stanford_dogs", "nabird")  # the release's 6


def _oracle(path):
    table = np.genfromtxt(path, delimiter=",", names=True, dtype=None, encoding="utf-8")
    return {(str(a), str(s), str(t)): float(o) for a, s, t, o in table}


def main():
    for name in ("controlled", "all"):
        path = TABLES / f"oracle_{name}.csv"
        oracle = _oracle(path)
        transfers = [key for key in oracle if key[2] in TARGETS]
        heuristic = evaluation.learned_heuristic(path, transfers)
        rows = []
        for (a, s, t), h in zip(transfers, heuristic):
            others = [v for (a2, s2, t2), v in oracle.items() if (a2, s2) == (a, s) and t2 != t and v > 0]
            rows.append(
                {
                    "Run": 0,
                    "Architecture": a,
                    "Source Dataset": s,
                    "Target Dataset": t,
                    "learned_heuristic": h,
                    "static_ranker": np.mean(others) if others else np.nan,
                    "depth": evaluation.RELEASE_MODEL_LAYERS[a],
                }
            )
        subsets = {"all rows": rows}
        if np.isnan(heuristic).any():  # only the controlled rows have meta-features
            subsets = {
                "all rows": [{k: v for k, v in r.items() if k != "learned_heuristic"} for r in rows],
                "rows with meta-features": [r for r, h in zip(rows, heuristic) if np.isfinite(h)],
            }
        for subset, table in subsets.items():
            for plasticity in (False, True):
                result = evaluation.parc_protocol(table, path, plasticity=plasticity)
                scores = ", ".join(f"{m} {v['mean']:.2f}" for m, v in result.items())
                print(f"oracle_{name}.csv, {subset} ({len(table)}), plasticity={plasticity}: {scores}")


if __name__ == "__main__":
    main()
