"""Plain NumPy/SciPy float64 versions of the estimators, one model at a time.

They follow the published formulas the way the original releases compute them (dense N x N
matrices, a full sort for Spearman, D x D pseudo-inverses, per-class Python loops), and serve as the
baseline of `benchmarks/estimators.py` and as an independent check in the tests. Requires SciPy.
"""

from __future__ import annotations

import numpy as np


def _standardize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    std = x.std(axis=0)
    return np.where(std > 0, (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0), 0.0)


def _pca(x: np.ndarray, n_dims: int) -> np.ndarray:
    centered = np.asarray(x, np.float64) - np.mean(x, axis=0)
    u, s, vt = np.linalg.svd(centered, full_matrices=False)
    signs = np.sign(vt[np.arange(len(vt)), np.argmax(np.abs(vt), axis=1)])
    return (u * s * signs)[:, :n_dims]


def parc(features, labels, num_classes, *, n_dims=None) -> float:
    """RDMs as 1 - np.corrcoef, Spearman over the upper triangles; label RDM with exact ties."""
    from scipy import stats

    x = features if n_dims is None else _pca(features, min(n_dims, *np.shape(features)))
    labels = np.asarray(labels)
    one_hot = np.eye(num_classes)[labels] if labels.ndim == 1 else labels.astype(np.float64)
    rows, cols = np.triu_indices(len(one_hot), 1)
    feature_rdm = 1 - np.corrcoef(_standardize(x))
    label_rdm = np.round(1 - np.corrcoef(one_hot), 12)  # exact ties (see shared/golden/README.md)
    return 100 * stats.spearmanr(feature_rdm[rows, cols], label_rdm[rows, cols])[0]


def leep(probs, labels, num_classes) -> float:
    probs = np.asarray(probs, np.float64)
    joint = np.eye(num_classes)[labels].T @ probs
    conditional = joint / probs.sum(axis=0)[None, :]
    return float(np.mean(np.log((conditional[labels] * probs).sum(axis=1))))


def nce(probs, labels, num_classes, *, eps=0.0) -> float:
    source = np.argmax(probs, axis=1)
    n, num_source = np.shape(probs)
    joint = np.eye(num_classes)[labels].T @ np.eye(num_source)[source] / n + eps
    marginal = np.eye(num_source)[source].sum(axis=0) / n + eps
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = joint * np.log(joint / marginal[None, :])
    return float(np.nansum(np.where(joint > 0, terms, 0.0)))


def logme(features, labels, num_classes) -> float:
    """Fixed-point LogME, looping over the targets as the LogME release does."""
    f = np.asarray(features, np.float64)
    n, d = f.shape
    u, s, _ = np.linalg.svd(f, full_matrices=False)
    sigma = s**2
    labels = np.asarray(labels)
    targets = labels.astype(np.float64) if labels.ndim == 2 else np.eye(num_classes)[labels]
    evidences = []
    for y in targets.T:
        x = u.T @ y
        x2 = x**2
        residual = np.sum((y - u @ x) ** 2)
        alpha, beta = 1.0, 1.0
        for _ in range(11):
            t = alpha / beta
            gamma = np.sum(sigma / (sigma + t))
            m2 = np.sum(sigma * x2 / (t + sigma) ** 2)
            res2 = np.sum(x2 / (1 + sigma / t) ** 2) + residual
            alpha = gamma / (m2 + 1e-5)
            beta = (n - gamma) / (res2 + 1e-5)
            if abs(alpha / beta - t) / t <= 1e-3:
                break
        evidence = (
            d / 2 * np.log(alpha)
            + n / 2 * np.log(beta)
            - 0.5 * np.sum(np.log(alpha + beta * sigma))
            - beta / 2 * res2
            - alpha / 2 * m2
            - n / 2 * np.log(2 * np.pi)
        )
        evidences.append(evidence / n)
    return float(np.mean(evidences))


def hscore(features, labels, num_classes, *, shrinkage=False) -> float:
    """tr(pinv(cov_f) cov_g) with D x D covariances; Ledoit-Wolf shrunk cov_f when `shrinkage`."""
    f = np.asarray(features, np.float64)
    n, d = f.shape
    f = f - f.mean(axis=0) if shrinkage else _standardize(f)
    one_hot = np.eye(num_classes)[labels]
    g = one_hot @ ((one_hot.T @ f) / np.maximum(one_hot.sum(axis=0), 1)[:, None])
    cov_g = np.cov(g, rowvar=False)
    if not shrinkage:
        return float(np.trace(np.linalg.pinv(np.cov(f, rowvar=False), rcond=1e-15) @ cov_g))
    emp_cov = f.T @ f / n
    mu = np.trace(emp_cov) / d
    delta = np.sum((emp_cov - mu * np.eye(d)) ** 2) / d
    beta = (np.sum(np.sum(f**2, axis=1) ** 2) / n - np.sum(emp_cov**2)) / (n * d)
    a = 0.0 if beta == 0 else min(beta, delta) / delta
    shrunk = (1 - a) * emp_cov + a * mu * np.eye(d)
    return float(np.trace(np.linalg.pinv(shrunk, rcond=1e-15) @ ((1 - a) * cov_g)))


def knn(features, labels, num_classes, *, k=1) -> float:
    """Leave-one-out kNN with the PARC release's vote rule, on a dense float64 distance matrix."""
    from scipy import stats

    f = np.asarray(features, np.float64)
    labels = np.asarray(labels)
    sq = np.sum(f**2, axis=1)
    distances = sq[:, None] + sq[None, :] - 2 * f @ f.T
    np.fill_diagonal(distances, np.inf)
    votes = labels[np.argsort(distances, axis=1, kind="stable")[:, :k]]
    mode, counts = stats.mode(votes, axis=1, keepdims=True)
    predictions = np.where(counts == 1, votes, mode)
    return float(100 * np.mean(predictions == labels[:, None]))


FUNCTIONS = {"parc": parc, "logme": logme, "leep": leep, "nce": nce, "hscore": hscore, "knn": knn}


# --- RSA, DDS, split kNN, split logistic


def _reduced_standardized(x, n_dims):
    x = np.asarray(x, np.float64)
    return _standardize(x if n_dims is None else _pca(x, min(n_dims, *x.shape)))


def rsa(features, reference_features, *, n_dims=None) -> float:
    """Spearman of the upper triangles of the two 1 - np.corrcoef RDMs (separate PCAs, standardised)."""
    from scipy import stats

    f = 1 - np.corrcoef(_reduced_standardized(features, n_dims))
    r = 1 - np.corrcoef(_reduced_standardized(reference_features, n_dims))
    rows, cols = np.triu_indices(len(f), 1)
    return float(100 * stats.spearmanr(f[rows, cols], r[rows, cols])[0])


def _cosine_distances(x):
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    unit = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    return 1 - unit @ unit.T


def _u_centered(kernel):
    n = len(kernel)
    kernel = kernel.copy()
    np.fill_diagonal(kernel, 0)
    means = kernel.sum(axis=0) / (n - 2)
    means -= means.sum() / (2 * (n - 1))
    centered = kernel - means[:, None] - means[None, :]
    np.fill_diagonal(centered, 0)
    return centered


def dds(features, reference_features, *, n_dims=None) -> float:
    """Debiased CKA (x100) of the U-centred cosine-distance matrices of the standardised features."""
    k_f = _u_centered(_cosine_distances(_reduced_standardized(features, n_dims)))
    k_r = _u_centered(_cosine_distances(_reduced_standardized(reference_features, n_dims)))
    return float(100 * np.sum(k_f * k_r) / np.sqrt(np.sum(k_f**2) * np.sum(k_r**2)))


def _halves(features, labels):
    f, labels = np.asarray(features, np.float64), np.asarray(labels)
    n_train = len(labels) - len(labels) // 2
    return f[:n_train], labels[:n_train], f[n_train:], labels[n_train:]


def split_knn(features, labels, num_classes, *, k=1) -> float:
    """Majority vote (smallest label on a tie) of the k nearest first-half samples, on the second half."""
    train, train_labels, test, test_labels = _halves(features, labels)
    distances = np.sum((test[:, None, :] - train[None, :, :]) ** 2, axis=2)
    votes = train_labels[np.argsort(distances, axis=1, kind="stable")[:, :k]]
    predictions = np.array([np.argmax(np.bincount(row, minlength=num_classes)) for row in votes])
    return float(100 * np.mean(predictions == test_labels))


def split_logistic(features, labels, num_classes) -> float:
    """Multinomial logistic regression (C = 1, unpenalised intercept) over the classes of the first half,
    solved by SciPy's trust-region Newton-CG in float64 with exact Hessian-vector products to a gradient
    of 1e-9; accuracy on the second half."""
    from scipy import optimize, special

    train, train_labels, test, test_labels = _halves(features, labels)
    classes = np.unique(train_labels)
    one_hot = (train_labels[:, None] == classes[None, :]).astype(np.float64)
    d, k = train.shape[1], len(classes)

    def unpack(theta):
        return theta[: d * k].reshape(d, k), theta[d * k :]

    def probabilities(theta):
        w, b = unpack(theta)
        return special.softmax(train @ w + b, axis=1)

    def objective(theta):
        w, b = unpack(theta)
        z = train @ w + b
        return np.sum(special.logsumexp(z, axis=1) - np.sum(one_hot * z, axis=1)) + 0.5 * np.sum(w**2)

    def gradient(theta):
        g = probabilities(theta) - one_hot
        return np.concatenate([(train.T @ g + unpack(theta)[0]).ravel(), g.sum(axis=0)])

    def hessian_product(theta, v):
        p, (v_w, v_b) = probabilities(theta), unpack(v)
        dz = train @ v_w + v_b
        dg = p * dz - p * np.sum(p * dz, axis=1, keepdims=True)
        return np.concatenate([(train.T @ dg + v_w).ravel(), dg.sum(axis=0)])

    theta = optimize.minimize(
        objective, np.zeros(d * k + k), jac=gradient, hessp=hessian_product, method="trust-ncg", options=dict(gtol=1e-9)
    ).x
    w, b = unpack(theta)
    predictions = classes[np.argmax(test @ w + b, axis=1)]
    return float(100 * np.mean(predictions == test_labels))


FUNCTIONS.update(rsa=rsa, dds=dds, split_knn=split_knn, split_logistic=split_logistic)


# --- SFDA, NLEEP, ETran, NCTI, PED


def _class_means(x, labels, num_classes):
    counts = np.bincount(labels, minlength=num_classes)
    return np.eye(num_classes)[labels].T @ x / np.maximum(counts, 1)[:, None], counts


def _shrink(a, alpha):
    return (1 - alpha) * a + alpha * np.trace(a) / a.shape[0] * np.eye(a.shape[0])


def _sfda_fit_predict(x, labels, num_classes, alpha=None):
    """The SFDA release's `SFDA(shrinkage=alpha).fit(x, y).predict_proba(x)`: float64, the D x D
    generalised eigenproblem S_b v = l S_wa v. Returns (probabilities [N, C], alpha)."""
    from scipy import linalg, special

    n = x.shape[0]
    means, counts = _class_means(x, labels, num_classes)
    within = x - means[labels]
    s_w = within.T @ within / n
    if alpha is None:  # the release's `iterative_A`: three double power steps from the row sums
        v = s_w @ np.ones(x.shape[1])
        for _ in range(3):
            u = s_w @ v / np.linalg.norm(s_w @ v)
            v = s_w @ u / np.linalg.norm(s_w @ u)
        alpha = max(np.exp(-5 * (v @ s_w @ u)), 1e-10)
    centered = x - x.mean(axis=0)
    s_t = _shrink(centered.T @ centered / n, alpha)
    s_wa = _shrink(s_w, alpha)
    _, vectors = linalg.eigh(s_t - s_wa, s_wa)
    coef = means @ vectors @ vectors.T
    with np.errstate(divide="ignore"):
        intercept = -0.5 * np.sum(means * coef, axis=1) + np.log(counts / n)
    return special.softmax(x @ coef.T + intercept, axis=1), alpha


def sfda(features, labels, num_classes) -> float:
    """SFDA (TencentARC/SFDA `SFDA_Score`): Fisher classifier, ConfMix, Fisher classifier again."""
    from scipy import special

    x = np.array(features, np.float64)  # ConfMix writes into the features: a float64 copy
    labels = np.asarray(labels)
    probs, alpha = _sfda_fit_predict(x, labels, num_classes)
    soft = special.softmax(probs, axis=1)
    means, _ = _class_means(x, labels, num_classes)
    others = (means.sum(axis=0) - means) / (num_classes - 1)
    q = soft[np.arange(len(labels)), labels][:, None]
    x = q * x + (1 - q) * others[labels]
    probs, _ = _sfda_fit_predict(x, labels, num_classes, alpha)
    return float(np.mean(probs[np.arange(len(labels)), labels]))


def etran_energy(features, labels=None, num_classes=None) -> float:
    """ETran release `Energy_Score(features, 0.5, 'bot')`: mean of the floor(5N/1000) smallest
    logsumexp of the feature rows."""
    from scipy import special

    energy = special.logsumexp(np.asarray(features, np.float64), axis=1)
    return float(np.mean(np.sort(energy)[: int(5 * len(energy) / 1000)]))


def etran_lda(features, labels, num_classes) -> float:
    """ETran's LDA term with the generalised eigenproblem (the fix): SFDA's first-stage true-class mean."""
    labels = np.asarray(labels)
    probs, _ = _sfda_fit_predict(np.asarray(features, np.float64), labels, num_classes)
    return float(np.mean(probs[np.arange(len(labels)), labels]))


def _ped_move(x, labels, num_classes, *, tau=0.1, nsigma=0.6, exit_ratio=0.5, max_steps=6):
    """PED release (`PED_Score`, `One_Step_PED`) with G = the target features: classes pushed apart in
    standardised units while their 0.6-sigma balls overlap; returns the moved features."""
    g = x.mean(axis=0)
    s = np.maximum(x.std(axis=0), 1e-3)
    first = None
    for _ in range(max_steps):
        u = (x - g) / s
        means, _ = _class_means(u, labels, num_classes)
        variances, _ = _class_means((u - means[labels]) ** 2, labels, num_classes)
        radii = np.sqrt(variances.sum(axis=1))
        shift = np.zeros_like(means)
        for a in range(num_classes):
            for b in range(num_classes):
                if a == b:
                    continue
                distance = np.linalg.norm(means[a] - means[b])
                overlap = max(nsigma * radii[a] + nsigma * radii[b] - distance, 0.0)
                shift[a] += (means[a] - means[b]) / distance * min(tau**2 / 2 * overlap, overlap)
        size = np.abs(shift).sum()
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = size / (size if first is None else first)
        if not ratio > exit_ratio:
            break
        first = size if first is None else first
        x = (u + shift[labels]) * s + g
    return x


def ped(features, labels, num_classes, *, base="sfda") -> float:
    """PED: SFDA or LogME of the features after the PED release's class-separating dynamics."""
    moved = _ped_move(np.asarray(features, np.float64), np.asarray(labels), num_classes)
    return {"sfda": sfda, "logme": logme}[base](moved, labels, num_classes)


def ncti_terms(features, labels, num_classes) -> tuple[float, float, float]:
    """NCTI release (`NCTI_Score`) with an exact PCA to min(64, N, D) dimensions and scikit-learn's
    svd-solver LDA (within-class factor 1/(N - C)): (feature_nuc, cls_conf, log_class_pred_nuc)."""
    from scipy import special

    labels = np.asarray(labels)
    z = _pca(features, min(64, *np.shape(features)))
    n = len(labels)
    means, counts = _class_means(z, labels, num_classes)
    priors = counts / n
    xbar = priors @ means
    within = z - means[labels]
    std = within.std(axis=0)
    std[std == 0] = 1.0
    _, s, vt = np.linalg.svd(np.sqrt(1.0 / (n - num_classes)) * within / std, full_matrices=False)
    rank = np.sum(s > 1e-4)
    scalings = (vt[:rank] / std).T / s[:rank]
    between = (np.sqrt(n * priors / (num_classes - 1)) * (means - xbar).T).T @ scalings
    _, s, vt = np.linalg.svd(between, full_matrices=False)
    scalings = scalings @ vt.T[:, : np.sum(s > 1e-4 * s[0])]
    coef = (means - xbar) @ scalings
    decision = (z - xbar) @ scalings @ coef.T - 0.5 * np.sum(coef**2, axis=1) + np.log(priors)
    transformed = ((z - xbar) @ scalings)[:, : min(num_classes - 1, z.shape[1])]
    feature_nuc = np.linalg.norm(transformed - transformed.mean(axis=0), "nuc")
    probs = special.softmax(decision, axis=1)
    cls_conf = np.mean(probs[np.arange(n), labels])
    class_nuc = sum(np.linalg.norm(probs[labels == c], "nuc") for c in range(num_classes) if counts[c])
    return float(feature_nuc), float(cls_conf), float(np.log(class_nuc))


def etran_terms(features, labels, num_classes) -> tuple[float, float]:
    """ETran's per-model terms (energy, fixed LDA), which the release's `tw.py` min-max scales over a bank."""
    return etran_energy(features), etran_lda(features, labels, num_classes)


FUNCTIONS.update(
    sfda=sfda,
    etran=etran_terms,
    ped=ped,
    ncti=ncti_terms,
    etran_energy=etran_energy,
    etran_lda=etran_lda,
    ped_sfda=ped,
    ped_logme=lambda features, labels, num_classes: ped(features, labels, num_classes, base="logme"),
    ncti_feature_nuc=lambda *args: ncti_terms(*args)[0],
    ncti_cls_conf=lambda *args: ncti_terms(*args)[1],
    ncti_log_class_pred_nuc=lambda *args: ncti_terms(*args)[2],
)


# --- GBC, TransRate, LEAD, PACTran, RankMe, linear probes
# The releases' algorithms in float64, one model at a time (pairwise Python loops, D x D log-determinants,
# SciPy's L-BFGS-B from a random start, scikit-learn's logistic regression), fixed only where they break:
# GBC's spherical log-determinant term (factor k) and its PCA size (min(64, N, D)).


def gbc(features, labels, num_classes, *, gaussian="spherical") -> float:
    """stable_transfer's GBC: exact PCA to min(64, N, D) dims, per-class stats, a loop over class pairs."""
    x = _pca(features, min(64, *np.shape(features)))
    labels = np.asarray(labels)
    present = np.unique(labels)
    stats = {c: (x[labels == c].mean(axis=0), np.maximum(x[labels == c].var(axis=0), 1e-4)) for c in present}
    total = 0.0
    for a in present:
        for b in present:
            if a == b:
                continue
            (m1, v1), (m2, v2) = stats[a], stats[b]
            if gaussian == "spherical":
                v1, v2 = np.full_like(v1, v1.mean()), np.full_like(v2, v2.mean())
            v = (v1 + v2) / 2
            distance = np.sum((m1 - m2) ** 2 / v) / 8 + 0.5 * np.sum(np.log(v) - np.log(v1) / 2 - np.log(v2) / 2)
            total += np.exp(-distance)
    return float(-total)


def _coding_rate(z: np.ndarray, eps: float) -> float:
    n, d = z.shape
    return 0.5 * np.linalg.slogdet(np.eye(d) + z.T @ z / (n * eps))[1]


def transrate(features, labels, num_classes, *, eps=1e-4, weighted=False) -> float:
    """The paper's appendix listing: one D x D slogdet for the whole set and one per class."""
    z = np.asarray(features, np.float64)
    z = z - z.mean(axis=0)
    labels = np.asarray(labels)
    present = np.unique(labels)
    rates = np.array([_coding_rate(z[labels == c], eps) for c in present])
    shares = np.array([np.mean(labels == c) for c in present]) if weighted else np.full(len(present), 1 / len(present))
    return float(_coding_rate(z, eps) - np.sum(shares * rates))


def lead(features, labels, num_classes, *, seed=0) -> float:
    """TE-Bench's LEAD, random tanh-MLP NTK per class included (its eigenvalue term is exactly 1 / m)."""
    rng = np.random.default_rng(seed)
    z = np.asarray(features, np.float64)
    labels = np.asarray(labels)
    n, d = z.shape
    one_hot = np.eye(num_classes)[labels]
    z = z - z.mean(axis=0)
    z = z / (np.linalg.norm(z, axis=1).mean() + 1e-12)
    initial = z @ np.linalg.solve(z.T @ z + 1e-3 * np.eye(d), z.T @ one_hot)
    hidden = 64
    w1 = rng.standard_normal((d, hidden)) / np.sqrt(d)
    w2 = rng.standard_normal((hidden, num_classes)) / np.sqrt(hidden)

    def summed_jacobian(row):
        h = np.tanh(row @ w1)
        slope = w2.sum(axis=1) * (1 - h**2)
        return np.concatenate([np.outer(row, slope).ravel(), slope, np.tile(h, num_classes), np.ones(num_classes)])

    relaxed = initial.copy()
    for c in range(num_classes):
        rows = np.flatnonzero(labels == c)
        if rows.size == 0:
            continue
        chosen = rows if rows.size <= 8 else rng.choice(rows, 8, replace=False)
        jacobians = np.stack([summed_jacobian(z[i]) for i in chosen])
        eigenvalues = np.linalg.eigvalsh(jacobians @ jacobians.T)
        decay = np.exp(-eigenvalues.mean() / (eigenvalues.sum() + 1e-12) * 10.0)
        relaxed[rows] = (1 - decay) * one_hot[rows] + decay * initial[rows]
    relaxed = np.exp(relaxed - relaxed.max(axis=1, keepdims=True))
    probability = relaxed[np.arange(n), labels] / relaxed.sum(axis=1)
    return float(np.mean(np.log(probability + 1e-12)))


def _pactran_start(probs, labels, num_classes):
    p = np.asarray(probs, np.float64)
    one_hot = np.eye(num_classes)[np.asarray(labels)]
    a0 = one_hot.sum(axis=0)[:, None] / one_hot.sum() + 1e-10  # [C, 1]
    return p, one_hot, a0, np.log(p + 1e-10)


def pactran_dirichlet(probs, labels, num_classes) -> float:
    """pactran_metrics' `calculate_pac_dir` (alpha = 1)."""
    from scipy import special

    p, one_hot, a0, log_s = _pactran_start(probs, labels, num_classes)
    q = p
    for _ in range(10):
        a = a0 + np.sum(np.einsum("BY,BZ->BYZ", one_hot, q), axis=0)
        logits = log_s + one_hot @ special.digamma(a) - special.digamma(a.sum(axis=0))[None, :]
        log_q = logits - special.logsumexp(logits, axis=-1, keepdims=True)
        q = np.exp(log_q)
    log_c0 = special.loggamma(a0.sum()) - np.sum(special.loggamma(a0))
    log_c = special.loggamma(a.sum(axis=0)) - np.sum(special.loggamma(a), axis=0)
    return float(-np.sum(log_c0 - log_c - np.sum(q * (log_q - log_s), axis=0)) / one_hot.size)


def pactran_gamma(probs, labels, num_classes) -> float:
    """pactran_metrics' `calculate_pac_gamma` (alpha = 1, beta = 1)."""
    from scipy import special

    p, one_hot, a0, log_s = _pactran_start(probs, labels, num_classes)
    q = p
    for _ in range(10):
        a = a0 + np.sum(np.einsum("BY,BZ->BYZ", one_hot, q), axis=0)
        rate = p @ a.sum(axis=0)[:, None]
        logits = log_s + one_hot @ special.digamma(a)
        log_q = logits - special.logsumexp(logits, axis=-1, keepdims=True)
        q = np.exp(log_q)
    value = np.sum(special.loggamma(a0) - special.loggamma(a))
    value += np.sum(np.sum(q * (log_q - log_s), axis=-1) + np.log(rate[:, 0]) - 1.0)
    return float(value / one_hot.size + 1.0)


def _pactran_gauss_fit(features, labels, num_classes, lam, seed):
    """`calculate_pac_gauss`'s fit: centred features, L-BFGS-B (maxiter 100, tol 1e-6) from 0.03 N(0, 1)."""
    from scipy import optimize, special

    x = np.asarray(features, np.float64)
    x = x - x.mean(axis=0)
    n, d = x.shape
    one_hot = np.eye(num_classes)[np.asarray(labels)]
    l2 = lam * n

    def loss_and_grad(theta):
        theta = theta.reshape(d + 1, num_classes)
        logits = x @ theta[:d] + theta[d:]
        log_q = logits - special.logsumexp(logits, axis=-1, keepdims=True)
        loss = np.sum(one_hot * (np.log(one_hot + 1e-10) - log_q)) / n + 0.5 * np.sum(theta[:d] ** 2) / l2
        residual = (np.exp(log_q) - one_hot) / n
        grad = np.concatenate([x.T @ residual + theta[:d] / l2, residual.sum(axis=0, keepdims=True)])
        return loss, grad.ravel()

    start = np.random.RandomState(seed).normal(size=(d, num_classes)) * 0.03
    start = np.concatenate([start, np.zeros((1, num_classes))]).ravel()
    theta = optimize.minimize(
        loss_and_grad, start, jac=True, method="L-BFGS-B", options=dict(maxiter=100), tol=1e-6
    ).x.reshape(d + 1, num_classes)
    return x, theta, loss_and_grad(theta.ravel())[0]


def pactran_gaussian(features, labels, num_classes, *, lam=1.0, sigma2=10.0, seed=0) -> float:
    """pactran_metrics' `calculate_pac_gauss` for one (lam, sigma2); the start drawn with `seed`."""
    from scipy import special

    x, theta, loss = _pactran_gauss_fit(features, labels, num_classes, lam, seed)
    n, d = x.shape
    p = special.softmax(x @ theta[:d] + theta[d:], axis=-1)
    spread = p - p**2
    curvature = np.sum((x**2).T @ spread + 1 / (lam * n)) + np.sum(spread)
    sigma2_inv = curvature * lam * n / (d * num_classes) + 1e-10
    return float(loss + 0.5 * d * num_classes / (lam * n) * (sigma2 / d) * np.log(sigma2_inv))


def rankme(features, labels=None, num_classes=None) -> float:
    """exp(entropy) of the normalised singular values (+1e-7) of the raw features."""
    s = np.linalg.svd(np.asarray(features, np.float64), compute_uv=False)
    p = s / s.sum() + 1e-7
    return float(np.exp(-np.sum(p * np.log(p))))


def linear_valerr(features, labels, num_classes, *, lam=1.0, seed=0) -> float:
    """pactran_metrics' half split: PACTran-Gauss fit on the first half, argmax error on the rest."""
    x = np.asarray(features, np.float64)
    x = x - x.mean(axis=0)
    labels = np.asarray(labels)
    half = len(x) // 2
    classes = int(labels[:half].max()) + 1
    d = x.shape[1]
    _, theta, _ = _pactran_gauss_fit(x[:half], labels[:half], classes, lam, seed)
    predictions = np.argmax(x[half:] @ theta[:d] + theta[d:], axis=1)
    return float(np.mean(predictions != labels[half:]))


def linear_probe(features, labels, num_classes, *, folds=3, seed=0) -> float:
    """TE-Bench's `LinearProbe`: StratifiedKFold, StandardScaler + LogisticRegression(C=1, max_iter=200)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.asarray(features, np.float64)
    labels = np.asarray(labels)
    keep = np.isin(labels, np.flatnonzero(np.bincount(labels) >= folds))
    x, labels = x[keep], labels[keep]
    accuracies = []
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, labels):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=200))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            accuracies.append(model.fit(x[train], labels[train]).score(x[test], labels[test]))
    return float(np.mean(accuracies))


FUNCTIONS.update(
    gbc=gbc,
    transrate=transrate,
    lead=lead,
    pactran_dirichlet=pactran_dirichlet,
    pactran_gamma=pactran_gamma,
    pactran_gaussian=pactran_gaussian,
    rankme=rankme,
    linear_valerr=linear_valerr,
    linear_probe=linear_probe,
)


def nleep(features, labels, num_classes, *, components_per_class=5, seed=0, log=True) -> float:
    """TencentARC/SFDA's NLEEP: scikit-learn's PCA(n_components=0.8), GaussianMixture(5 C') from one k-means
    initialisation (`random_state=seed`), LEEP of its posteriors; `log=True` the paper's mean log p_i, False the
    release's mean p_i. Raises scikit-learn's ValueError when 5 C' > N, as the release does."""
    from sklearn.decomposition import PCA
    from sklearn.mixture import GaussianMixture

    scores = PCA(n_components=0.8).fit_transform(np.asarray(features, np.float64))
    labels = np.asarray(labels)
    mixture = GaussianMixture(components_per_class * np.unique(labels).size, random_state=seed).fit(scores)
    posteriors = mixture.predict_proba(scores)
    joint = np.eye(num_classes)[labels].T @ posteriors / len(labels)
    p = np.sum(posteriors * (joint / joint.sum(axis=0))[labels], axis=1)
    return float(np.mean(np.log(p)) if log else np.mean(p))


FUNCTIONS.update(nleep=nleep, nleep_asis=lambda *args, **opts: nleep(*args, **opts, log=False))
