"""Which decomposition should the feature estimators use on this backend? Times and accuracy.

LogME and PCA take the eigendecomposition of the N x N Gram matrix (`_stats.gram_eigh`); H-score a
QR of the features followed by an SVD of the small triangular factor (`_stats.thin_svd`). How fast
these run batched over a bank depends on the backend's solver: on a CPU they are LAPACK calls per
matrix; on CUDA, `eigh` of a batch can use cuSOLVER's batched solver, `svd` has QR, Jacobi and
polar-decomposition algorithms. For a batch of B probes [N, D] (class-structured Gaussian, as in
`benchmarks/estimators.py`) this times each route at batch sizes 8 and --batch (skipped where the
small batch predicts more than --cap seconds), and reports the largest error of the
singular values (relative to the largest) against a float64 NumPy SVD of the first probes.

    python benchmarks/linalg_paths.py --batch 1000     # on a GPU
    python benchmarks/linalg_paths.py --batch 16       # on a CPU

Writes benchmarks/results/linalg_paths_<tag>.json.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from _timing import median_seconds  # noqa: E402

from parc_jax._io import machine_stamp
from parc_jax.estimators import _stats  # noqa: E402

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
SVD = jax.lax.linalg.SvdAlgorithm
EIGH = jax.lax.linalg.EighImplementation


def singular_values_via_gram(x, implementation=None):
    gram = _stats.matmul(x, x.T)
    sigma = jax.lax.linalg.eigh(gram, implementation=implementation)[1]
    return jnp.sqrt(jnp.maximum(sigma[::-1], 0.0))


def singular_values_via_qr(x, algorithm=None):
    r = jnp.linalg.qr(x.T, mode="r")
    return jax.lax.linalg.svd(r.T, full_matrices=False, algorithm=algorithm)[1]


ROUTES = {
    "gram_eigh (LogME, PCA)": lambda x: jnp.sqrt(_stats.gram_eigh(x)[1]),
    "gram + eigh jacobi": lambda x: singular_values_via_gram(x, EIGH.JACOBI),
    "thin_svd (H-score)": lambda x: _stats.thin_svd(x)[1],
    "qr only": lambda x: jnp.abs(jnp.diagonal(jnp.linalg.qr(x.T, mode="r"))),
    "qr + svd jacobi": lambda x: singular_values_via_qr(x, SVD.JACOBI),
    "qr + svd polar": lambda x: singular_values_via_qr(x, SVD.POLAR),
    "qr + svd qr": lambda x: singular_values_via_qr(x, SVD.QR),
}


def probes(batch, n, d, c, seed=0):
    labels = np.arange(n) % c
    key = jax.random.key(seed)
    centers = jax.random.normal(key, (batch, c, d))
    return centers[:, labels] + 2.0 * jax.random.normal(jax.random.fold_in(key, 1), (batch, n, d))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--d", type=int, default=2048)
    parser.add_argument("--cap", type=float, default=20.0, help="skip a large batch predicted slower than this")
    parser.add_argument("--tag", default=None)
    args = parser.parse_args(argv)
    machine = machine_stamp()
    print(json.dumps(machine), flush=True)
    small = probes(8, args.n, args.d, 37)
    exact = np.linalg.svd(np.asarray(small[:2], np.float64), compute_uv=False)
    large = probes(args.batch, args.n, args.d, 37) if args.batch > 8 else None
    rows = []
    for name, route in ROUTES.items():
        fn = jax.jit(jax.vmap(route))
        row = dict(route=name)
        try:
            row["batch8_s"], values = median_seconds(fn, small)
            if name != "qr only":  # its diagonal is not the singular values
                error = np.abs(np.asarray(values[:2], np.float64) - exact) / exact[:, :1]
                row["max_rel_error"] = float(error.max())
            predicted = row["batch8_s"] / 8 * args.batch
            if large is not None and predicted < args.cap:
                row[f"batch{args.batch}_s"] = median_seconds(fn, large)[0]
            elif large is not None:
                row[f"batch{args.batch}_s_predicted"] = predicted
        except Exception as error:  # a route the backend lacks must not lose the others
            row["error"] = f"{type(error).__name__}: {str(error).splitlines()[0]}"
        rows.append(row)
        print(json.dumps(row), flush=True)
    tag = args.tag or machine["backend"]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"linalg_paths_{tag}.json").write_text(
        json.dumps(dict(machine=machine, n=args.n, d=args.d, rows=rows), indent=1) + "\n"
    )


if __name__ == "__main__":
    main()
