"""Geometry of the good minima: kernel PCA, the low-loss plane, minima, Rashomon ratio.

Seed 001's pipeline: embed sampled draws with an RBF kernel PCA in a few
dimensions, keep the draws whose loss is below a threshold, fit a plane to them
with linear PCA and report how much variance the plane explains, next to what an
isotropic cloud of the same size would give (a PCA from k to 2 dimensions
explains at least 2/k of any cloud's variance, so the number alone says little).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize
from scipy.spatial.distance import pdist
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA, KernelPCA
from sklearn.kernel_approximation import Nystroem
from sklearn.metrics.pairwise import rbf_kernel

from . import _activations as _act
from ._validate import check_finite_array, check_int, check_positive
from .landscape import Landscape
from .model import MLP

__all__ = [
    "Minima",
    "MinimaPlane",
    "RashomonRatio",
    "canonical_form",
    "mass_below",
    "find_minima",
    "isotropic_null",
    "minima_plane",
    "rashomon_ratio",
    "read_flat",
    "symmetry_orbit",
]


# ------------------------------------------------------------------------ loading
def _gather(run_or_draws, loss, max_points: int, seed: int):
    """Points (n, p), their losses (n,) and flat (chain * draw) indices, subsampled."""
    from .store import Run

    if isinstance(run_or_draws, Run):
        run = run_or_draws
        C, D = run.n_chains, run.n_draws
        if C * D == 0:
            raise ValueError("run_or_draws: the run has no draws yet")
        flat = np.arange(C * D)
        if C * D > max_points:
            flat = np.sort(np.random.default_rng(seed).choice(C * D, size=max_points, replace=False))
        return read_flat(run, flat), read_flat(run, flat, "loss"), flat
    draws = check_finite_array("run_or_draws", run_or_draws, (2, 3))
    points = draws.reshape(-1, draws.shape[-1])
    if loss is None:
        raise ValueError("loss: expected the loss of every draw when run_or_draws is an array")
    losses = check_finite_array("loss", loss, (1, 2)).ravel()
    if losses.size != points.shape[0]:
        raise ValueError(f"loss: expected {points.shape[0]} values (one per draw), got {losses.size}")
    flat = np.arange(points.shape[0])
    if points.shape[0] > max_points:
        flat = np.sort(np.random.default_rng(seed).choice(points.shape[0], size=max_points, replace=False))
        points, losses = points[flat], losses[flat]
    return points, losses, flat


def read_flat(run, flat: np.ndarray, what: str = "draws") -> np.ndarray:
    """Draws (or losses, ``what="loss"``) at sorted flat indices chain * n_draws + draw.

    Reads only those draws from the run file, one chain at a time.
    """
    source = run.draws if what == "draws" else run.loss
    D = run.n_draws
    out = np.empty((flat.size, *source.shape[2:]))
    chain_of = flat // D
    for c in np.unique(chain_of):
        sel = chain_of == c
        idx = flat[sel] - c * D
        out[sel] = source[int(c)] if idx.size == D else source[int(c), idx]
    return out


# --------------------------------------------------------------------- null model
def isotropic_null(n: int, dims: int, plane_dims: int, reps: int = 200, seed: int = 0) -> tuple[float, float]:
    """Share of variance the top ``plane_dims`` PCA axes explain in isotropic clouds.

    Draws ``reps`` standard normal clouds of ``n`` points in ``dims`` dimensions.
    The asymptotic value is plane_dims / dims; small clouds give more, which is
    why the comparison must use the same ``n``.

    Returns
    -------
    (mean, q95) : tuple of float
        Mean and 95% quantile over the clouds.
    """
    n = check_int("n", n, 2)
    if plane_dims >= dims:
        return 1.0, 1.0
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((reps, n, dims))
    Z -= Z.mean(axis=1, keepdims=True)
    ev = np.linalg.eigvalsh(np.einsum("rni,rnj->rij", Z, Z))[:, ::-1]
    share = ev[:, :plane_dims].sum(axis=1) / ev.sum(axis=1)
    return float(share.mean()), float(np.quantile(share, 0.95))


# ------------------------------------------------------------------ kernel PCA
def _median_gamma(X: np.ndarray, seed: int) -> float:
    rng = np.random.default_rng(seed)
    sub = X[rng.choice(X.shape[0], size=min(2000, X.shape[0]), replace=False)]
    d2 = pdist(sub, "sqeuclidean")
    med = float(np.median(d2)) if d2.size else 0.0
    return 1.0 / (2.0 * med) if med > 0 else 1.0


def _kernel_sum(X: np.ndarray, gamma: float, exact_max: int, seed: int, pairs: int = 2_000_000) -> float:
    """sum_ij k(x_i, x_j): exact in row blocks up to ``exact_max`` points, else estimated.

    The estimate is n + n (n - 1) times the mean kernel value over ``pairs``
    random pairs i != j (relative standard error below 1e-3 for these sizes).
    """
    n = X.shape[0]
    if n <= exact_max:
        total = 0.0
        for start in range(0, n, 512):
            total += float(rbf_kernel(X[start : start + 512], X, gamma=gamma).sum())
        return total
    rng = np.random.default_rng(seed)
    i = rng.integers(0, n, size=pairs)
    j = (i + rng.integers(1, n, size=pairs)) % n  # j != i
    mean_off = float(np.exp(-gamma * ((X[i] - X[j]) ** 2).sum(axis=1)).mean())
    return n + n * (n - 1) * mean_off


@dataclass
class MinimaPlane:
    """Result of :func:`minima_plane`.

    Attributes
    ----------
    indices : ndarray (n,)
        Flat (chain * n_draws + draw) indices of the draws used.
    loss : ndarray (n,)
    embedding : ndarray (n, kernel_dims)
        RBF kernel-PCA coordinates of every draw used.
    gamma : float
        RBF parameter, k(x, y) = exp(-gamma ||x - y||^2).
    kernel_method : {"exact", "nystroem"}
    kernel_captured : float
        Share of the centred kernel matrix's trace (the total variance in
        feature space) captured by the ``kernel_dims`` components.
    kernel_error : float
        ``1 - kernel_captured``: the kernel PCA's approximation error.
    reconstruction_error : float
        Input-space error of the fitted pre-image map: mean ||x - x_hat||^2 over
        mean ||x - mean(x)||^2, on a subsample of at most 1000 draws (scikit-learn's
        ``fit_inverse_transform`` kernel ridge pre-image).
    kernel_offdiag_mean : float
        Mean off-diagonal kernel value; near 1 (all points alike) or near 0 (all
        points isolated) means the kernel is degenerate for this ``gamma``.
    degenerate : bool
    low : ndarray (n_low,)
        Positions (into the draws used) of the draws with loss < threshold.
    enough : bool
        Whether at least ``min_low`` draws are below the threshold.
    explained : ndarray (plane_dims,)
        Variance ratios of the plane fitted to the low-loss embedding.
    null_explained, null_q95 : float
        The same share for isotropic clouds of the same size and dimension.
    coords : ndarray (n_low, plane_dims)
        The low-loss draws in the plane's coordinates (seed 001's Figure 2).
    centre_kernel, basis_kernel : ndarray
        The plane in kernel-PCA space: centre (kernel_dims,), basis (plane_dims, kernel_dims).
    param_explained : ndarray (plane_dims,)
        Variance ratios of the plane fitted to the low-loss draws in parameter space.
    param_null_explained : float
    centre_param, basis_param : ndarray
        That plane: centre (p,), basis (plane_dims, p).
    messages : list of str
        Warnings a reader should see (degenerate kernel, too few low-loss draws).
    """

    indices: np.ndarray
    loss: np.ndarray
    embedding: np.ndarray
    gamma: float
    kernel_method: str
    kernel_captured: float
    kernel_error: float
    reconstruction_error: float
    kernel_offdiag_mean: float
    degenerate: bool
    threshold: float
    low: np.ndarray
    enough: bool
    explained: np.ndarray
    null_explained: float
    null_q95: float
    coords: np.ndarray
    centre_kernel: np.ndarray
    basis_kernel: np.ndarray
    param_explained: np.ndarray
    param_null_explained: float
    centre_param: np.ndarray
    basis_param: np.ndarray
    messages: list = field(default_factory=list)

    @property
    def n_low(self) -> int:
        """Number of draws below the threshold."""
        return int(self.low.size)

    def __str__(self) -> str:
        lines = [
            f"kernel PCA ({self.kernel_method}, gamma={self.gamma:.3g}) of {self.indices.size} draws to "
            f"{self.embedding.shape[1]}-D: error {self.kernel_error:.4f} (share of kernel variance not "
            f"captured), pre-image error {self.reconstruction_error:.4f}",
            f"low-loss draws (U < {self.threshold:g}): {self.n_low}",
            f"plane in kernel space explains {self.explained.sum():.3f} "
            f"(isotropic null {self.null_explained:.3f}, 95% {self.null_q95:.3f})",
            f"plane in parameter space explains {self.param_explained.sum():.3f} "
            f"(isotropic null {self.param_null_explained:.3f})",
        ]
        return "\n".join(lines + [f"note: {m}" for m in self.messages])


def _plane(points: np.ndarray, plane_dims: int):
    """PCA plane of a cloud: (explained ratios, centre, basis, coordinates)."""
    d = points.shape[1]
    k = min(plane_dims, d, points.shape[0] - 1)
    coords = np.zeros((points.shape[0], plane_dims))  # missing axes (too few points) stay 0
    if k < 1:
        nan = np.full(plane_dims, np.nan)
        return nan, np.full(d, np.nan), np.full((plane_dims, d), np.nan), coords
    pca = PCA(n_components=k).fit(points)
    ratios = np.full(plane_dims, np.nan)
    ratios[:k] = pca.explained_variance_ratio_
    basis = np.full((plane_dims, d), np.nan)
    basis[:k] = pca.components_
    coords[:, :k] = pca.transform(points)
    return ratios, pca.mean_, basis, coords


def minima_plane(
    run_or_draws,
    loss=None,
    threshold: float = 0.1,
    kernel_dims: int = 3,
    plane_dims: int = 2,
    gamma: float | None = None,
    max_points: int = 20_000,
    exact_max: int = 4000,
    nystroem_components: int = 400,
    min_low: int = 30,
    seed: int = 0,
) -> MinimaPlane:
    """Seed 001's geometry of the good minima.

    1. Embed the draws with an RBF kernel PCA in ``kernel_dims`` dimensions.
    2. Keep the draws whose loss is below ``threshold``.
    3. Fit a ``plane_dims``-dimensional plane to them by linear PCA, in the
       kernel embedding (the seed's procedure) and in parameter space, and
       report the explained variance beside an isotropic cloud's.

    Parameters
    ----------
    run_or_draws : Run or array_like
        A :class:`~fastland.Run` (read lazily, only the draws used), or draws
        of shape (chain, draw, p) or (n, p).
    loss : array_like, optional
        The loss of every draw; needed for arrays, read from a Run.
    threshold : float, default 0.1
    kernel_dims, plane_dims : int
    gamma : float, optional
        RBF parameter; by default 1 / (2 median ||x_i - x_j||^2) (median heuristic).
    max_points : int, default 20000
        Above this many draws a reproducible uniform subsample (by ``seed``) is used.
    exact_max : int, default 4000
        Up to this many points the kernel PCA is exact (scikit-learn KernelPCA on the
        n x n kernel); above, a Nystroem approximation with ``nystroem_components``
        landmarks followed by PCA, so memory stays O(n x components). The captured
        share is relative to the trace of the centred kernel matrix, computed exactly in
        blocks up to ``exact_max`` points and estimated from 2 million random pairs above.
    min_low : int, default 30
        Fewest low-loss draws considered enough; fewer gives a message (lower the
        temperature or raise the threshold).
    seed : int, default 0

    Returns
    -------
    MinimaPlane
    """
    threshold = float(threshold)
    kernel_dims = check_int("kernel_dims", kernel_dims, 1)
    plane_dims = check_int("plane_dims", plane_dims, 1)
    max_points = check_int("max_points", max_points, 2)
    X, losses, flat = _gather(run_or_draws, loss, max_points, seed)
    n, p = X.shape
    if n <= kernel_dims:
        raise ValueError(f"run_or_draws: expected more than kernel_dims={kernel_dims} draws, got {n}")
    messages: list[str] = []
    gamma = _median_gamma(X, seed) if gamma is None else check_positive("gamma", gamma)

    if n <= exact_max:
        method = "exact"
        kpca = KernelPCA(n_components=kernel_dims, kernel="rbf", gamma=gamma, random_state=seed)
        emb = kpca.fit_transform(X)
        captured_sum = float(kpca.eigenvalues_.sum())
    else:
        method = "nystroem"
        m = min(nystroem_components, n)
        feats = Nystroem(kernel="rbf", gamma=gamma, n_components=m, random_state=seed).fit_transform(X)
        pca = PCA(n_components=kernel_dims, random_state=seed).fit(feats)
        emb = pca.transform(feats)
        captured_sum = float(pca.explained_variance_.sum() * (n - 1))
    ksum = _kernel_sum(X, gamma, exact_max, seed)
    trace_centred = n - ksum / n  # k(x, x) = 1 for the RBF kernel
    captured = min(1.0, captured_sum / trace_centred) if trace_centred > 0 else float("nan")
    offdiag = (ksum - n) / (n * (n - 1))
    degenerate = not (1e-3 < offdiag < 0.999)
    if degenerate:
        messages.append(
            f"the RBF kernel is degenerate (mean off-diagonal value {offdiag:.3g}): "
            f"choose gamma nearer 1 / (typical squared distance)"
        )

    # pre-image error on a subsample (kernel ridge pre-image, as scikit-learn fits it)
    rng = np.random.default_rng(seed)
    sub = rng.choice(n, size=min(1000, n), replace=False)
    kp = KernelPCA(n_components=kernel_dims, kernel="rbf", gamma=gamma, fit_inverse_transform=True, random_state=seed)
    Xs = X[sub]
    rec = kp.inverse_transform(kp.fit_transform(Xs))
    spread = float(((Xs - Xs.mean(axis=0)) ** 2).sum(axis=1).mean())
    recon = float(((Xs - rec) ** 2).sum(axis=1).mean() / spread) if spread > 0 else 0.0

    low = np.flatnonzero(losses < threshold)
    enough = low.size >= max(min_low, plane_dims + 2)
    if not enough:
        messages.append(
            f"only {low.size} of {n} draws have loss < {threshold:g}: lower the temperature, "
            f"sample longer, or raise the threshold"
        )
    explained, centre_k, basis_k, coords = _plane(emb[low], plane_dims)
    param_explained, centre_p, basis_p, _ = _plane(X[low], plane_dims)
    if low.size >= 2:
        null_mean, null_q95 = isotropic_null(low.size, kernel_dims, plane_dims, seed=seed)
        param_null, _ = isotropic_null(low.size, p, plane_dims, seed=seed)
    else:
        null_mean = null_q95 = param_null = float("nan")
    return MinimaPlane(
        indices=flat,
        loss=losses,
        embedding=emb,
        gamma=gamma,
        kernel_method=method,
        kernel_captured=captured,
        kernel_error=1.0 - captured,
        reconstruction_error=recon,
        kernel_offdiag_mean=offdiag,
        degenerate=degenerate,
        threshold=threshold,
        low=low,
        enough=enough,
        explained=explained,
        null_explained=null_mean,
        null_q95=null_q95,
        coords=coords,
        centre_kernel=centre_k,
        basis_kernel=basis_k,
        param_explained=param_explained,
        param_null_explained=param_null,
        centre_param=centre_p,
        basis_param=basis_p,
        messages=messages,
    )


# ------------------------------------------------------------- symmetry of MLPs
def canonical_form(net: MLP, w) -> np.ndarray:
    """A representative of w modulo hidden-unit permutations (and sign flips for odd or even activations).

    For each hidden layer from the input side: with an odd activation (tanh,
    linear) each unit's incoming weights and bias are negated, together with its
    outgoing weights, so that the largest-magnitude incoming entry is positive
    (with an even one, quadratic, the outgoing weights stay as they are);
    then units are sorted by their incoming weights (lexicographically) and the
    next layer's columns follow. Functions are unchanged. Nearly tied units can
    sort differently at nearby points; :func:`find_minima` therefore compares
    candidate minima over the whole symmetry orbit when it is small.

    Parameters
    ----------
    net : MLP
    w : array_like (p,) or (B, p)
    """
    W = np.array(w, dtype=float, copy=True)
    single = W.ndim == 1
    W = np.atleast_2d(W)
    for b in range(W.shape[0]):
        layers = net.unflatten(W[b])
        for k in range(len(net.hidden)):
            Wk, bk = layers[k]
            Wn, _ = layers[k + 1]
            inc = Wk if bk is None else np.column_stack([Wk, bk])
            if net.activation in _act.ODD + _act.EVEN:
                big = np.argmax(np.abs(inc), axis=1)
                s = np.sign(inc[np.arange(inc.shape[0]), big])
                s[s == 0] = 1.0
                Wk *= s[:, None]
                if bk is not None:
                    bk *= s
                if net.activation in _act.ODD:
                    Wn *= s[None, :]
                inc = Wk if bk is None else np.column_stack([Wk, bk])
            order = np.lexsort(inc.T[::-1])
            Wk[...] = Wk[order]
            if bk is not None:
                bk[...] = bk[order]
            Wn[...] = Wn[:, order]
    return W[0] if single else W


def symmetry_orbit(net: MLP, w, max_size: int = 50_000) -> np.ndarray:
    """All images of w under hidden-unit permutations (and sign flips for odd or even activations).

    Returns an array (G, p); raises ValueError when the group has more than
    ``max_size`` elements.
    """
    w = np.asarray(w, dtype=float)
    per_layer = []
    size = 1
    for width in net.hidden:
        perms = list(itertools.permutations(range(width)))
        flips = net.activation in _act.ODD + _act.EVEN
        signs = list(itertools.product((1.0, -1.0), repeat=width)) if flips else [(1.0,) * width]
        per_layer.append([(np.array(pm), np.array(sg)) for pm in perms for sg in signs])
        size *= len(per_layer[-1])
    if size > max_size:
        raise ValueError(f"net: the symmetry group has {size} elements, more than max_size={max_size}")
    out = np.empty((size, w.size))
    for g, combo in enumerate(itertools.product(*per_layer)):
        v = w.copy()
        layers = net.unflatten(v)
        for k, (perm, sign) in enumerate(combo):
            Wk, bk = layers[k]
            Wn, _ = layers[k + 1]
            Wk[...] = (Wk * sign[:, None])[perm]
            if bk is not None:
                bk[...] = (bk * sign)[perm]
            out_sign = sign if net.activation in _act.ODD else np.ones_like(sign)
            Wn[...] = (Wn * out_sign[None, :])[:, perm]
        out[g] = v
    return out


# ------------------------------------------------------------------- find minima
@dataclass
class Minima:
    """Distinct minima found by :func:`find_minima`.

    Attributes
    ----------
    points : ndarray (k, p)
        One canonical representative per minimum, sorted by loss.
    loss, grad_norm : ndarray (k,)
        Loss and gradient infinity-norm (of the box-projected gradient).
    multiplicity : ndarray (k,)
        How many descents ended there (after identifying symmetric copies).
    on_boundary : ndarray (k,) of bool
        Whether the minimum sits on the box (a coordinate at +-box).
    n_starts : int
        Number of descents run.
    """

    points: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray
    multiplicity: np.ndarray
    on_boundary: np.ndarray
    n_starts: int


def _same_minimum(net: MLP, a: np.ndarray, b: np.ndarray, tol: float, orbit_max: int) -> bool:
    try:
        orbit = symmetry_orbit(net, a, max_size=orbit_max)
    except ValueError:
        orbit = canonical_form(net, a)[None, :]
        b = canonical_form(net, b)
    return bool(np.min(np.max(np.abs(orbit - b), axis=1)) <= tol)


def find_minima(
    land: Landscape,
    points,
    loss=None,
    threshold: float | None = None,
    n_clusters: int = 20,
    per_cluster: int = 2,
    box: float | None = None,
    tol_grad: float = 1e-10,
    tol: float = 1e-4,
    orbit_max: int = 50_000,
    seed: int = 0,
) -> Minima:
    """Enumerate distinct minima near sampled points.

    The points (optionally only those with loss below ``threshold``) are mapped
    to :func:`canonical_form`, clustered with k-means (scikit-learn), and from the
    ``per_cluster`` lowest-loss points of each cluster L-BFGS-B descends with the
    exact gradient (SciPy; inside ``[-box, box]^p`` when ``box`` is given). End
    points closer than ``tol`` (max-norm) to another end point or to one of its
    symmetric images count as one minimum.

    Parameters
    ----------
    land : Landscape
    points : array_like (n, p)
    loss : array_like (n,), optional
        Losses of ``points`` (computed when omitted).
    threshold : float, optional
    n_clusters, per_cluster : int
    box : float, optional
    tol_grad : float, default 1e-10
        L-BFGS-B's projected-gradient tolerance.
    tol : float, default 1e-4
    orbit_max : int
        Largest symmetry group compared element by element; beyond it, canonical
        forms are compared.
    seed : int, default 0

    Returns
    -------
    Minima
    """
    if not isinstance(land, Landscape):
        raise ValueError(f"land: expected a fastland.Landscape, got {type(land).__name__}")
    P = check_finite_array("points", points, 2)
    if P.shape[1] != land.n_params:
        raise ValueError(f"points: expected shape (n, {land.n_params}), got {P.shape}")
    L = land.loss(P) if loss is None else check_finite_array("loss", loss, 1)
    if L.shape[0] != P.shape[0]:
        raise ValueError(f"loss: expected {P.shape[0]} values, got {L.shape[0]}")
    if threshold is not None:
        keep = L < threshold
        P, L = P[keep], L[keep]
    if P.shape[0] == 0:
        raise ValueError("points: no point below the threshold to start from")
    canon = canonical_form(land.net, P)
    k = min(check_int("n_clusters", n_clusters, 1), P.shape[0])
    labels = (
        KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(canon)
        if k > 1
        else np.zeros(P.shape[0], dtype=int)
    )
    starts = []
    for c in range(k):
        members = np.flatnonzero(labels == c)
        starts.extend(members[np.argsort(L[members])[:per_cluster]])
    bounds = None if box is None else [(-box, box)] * land.n_params

    def fun(w):
        value, g = land.loss_and_grad(w)
        return value, g

    ends, end_loss, end_grad = [], [], []
    for i in starts:
        res = optimize.minimize(
            fun,
            canon[i],
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"gtol": tol_grad, "ftol": 1e-15, "maxiter": 20_000},
        )
        g = land.grad(res.x)
        if box is not None:  # projected gradient: zero where the bound is active and pushes out
            at_hi = (res.x >= box) & (g < 0)
            at_lo = (res.x <= -box) & (g > 0)
            g = np.where(at_hi | at_lo, 0.0, g)
        ends.append(canonical_form(land.net, res.x))
        end_loss.append(float(res.fun))
        end_grad.append(float(np.max(np.abs(g))))
    reps: list[int] = []
    counts: list[int] = []
    for j in np.argsort(end_loss):
        for r_i, r in enumerate(reps):
            if _same_minimum(land.net, ends[r], ends[j], tol, orbit_max):
                counts[r_i] += 1
                break
        else:
            reps.append(int(j))
            counts.append(1)
    pts = np.array([ends[r] for r in reps])
    on_boundary = np.zeros(len(reps), dtype=bool) if box is None else np.any(np.abs(pts) >= box * (1 - 1e-12), axis=1)
    return Minima(
        points=pts,
        loss=np.array([end_loss[r] for r in reps]),
        grad_norm=np.array([end_grad[r] for r in reps]),
        multiplicity=np.array(counts),
        on_boundary=on_boundary,
        n_starts=len(starts),
    )


# ---------------------------------------------------------------- Rashomon ratio
@dataclass
class RashomonRatio:
    """Share of the density (or of the box) where the loss is below a threshold.

    Attributes
    ----------
    ratio : float
    stderr : float
        Monte Carlo standard error (from the indicator's ESS for a run; binomial
        for uniform draws).
    n : int
        Draws used.
    ess : float
        Effective sample size of the indicator.
    measure : {"posterior", "box"}
        "posterior": mass of exp(-U/T) (what a run estimates); "box": share of
        the box volume (uniform draws).
    """

    ratio: float
    stderr: float
    n: int
    ess: float
    measure: str

    def interval(self, z: float = 1.96) -> tuple[float, float]:
        """Normal-approximation confidence interval, clipped to [0, 1]."""
        return max(0.0, self.ratio - z * self.stderr), min(1.0, self.ratio + z * self.stderr)


def mass_below(loss: np.ndarray, threshold: float) -> RashomonRatio:
    """The posterior mass of ``loss < threshold`` from draws (chain, draw), with its MCMC standard error.

    The share of draws below the threshold; the standard error uses the ESS of
    the indicator (:func:`fastland.diagnostics.ess_mean`). :func:`rashomon_ratio`
    of a run is this of its losses.
    """
    from . import diagnostics

    ind = (np.asarray(loss) < threshold).astype(float)
    ratio = float(ind.mean())
    if 0.0 < ratio < 1.0 and ind.ndim == 2 and ind.shape[1] >= 4:
        ess = float(diagnostics.ess_mean(ind))
    else:
        ess = float(ind.size)
    se = math.sqrt(ratio * (1 - ratio) / ess) if ess > 0 else float("nan")
    return RashomonRatio(ratio, se, int(ind.size), ess, "posterior")


def rashomon_ratio(run_or_land, threshold: float, n: int = 100_000, box: float = 10.0, seed: int = 0) -> RashomonRatio:
    """Rashomon ratio: share of models whose loss is below ``threshold``.

    Parameters
    ----------
    run_or_land : Run or Landscape
        A run estimates the mass of exp(-U/T) below the threshold, with its error
        from the ESS of the indicator (split chains, as ArviZ). A landscape is
        sampled uniformly on ``[-box, box]^p`` (``n`` draws, NumPy's generator):
        the share of the box volume, with a binomial error.
    threshold : float
    n : int, default 100000
    box : float, default 10.0
    seed : int, default 0
    """
    from .store import Run

    if isinstance(run_or_land, Run):
        return mass_below(np.asarray(run_or_land.loss[:]), threshold)
    if not isinstance(run_or_land, Landscape):
        raise ValueError(f"run_or_land: expected a Run or a Landscape, got {type(run_or_land).__name__}")
    n = check_int("n", n, 1)
    box = check_positive("box", box)
    rng = np.random.default_rng(seed)
    hits = 0
    for start in range(0, n, 16_384):
        W = rng.uniform(-box, box, size=(min(16_384, n - start), run_or_land.n_params))
        hits += int(np.count_nonzero(run_or_land.loss(W) < threshold))
    ratio = hits / n
    return RashomonRatio(ratio, math.sqrt(ratio * (1 - ratio) / n), n, float(n), "box")
