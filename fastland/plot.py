"""Figures for loss-landscape studies (needs the optional extra ``fastland[plot]``).

matplotlib is imported only when a function is called; without it every function
raises an ImportError that says ``pip install 'fastland[plot]'``.

Conventions shared by every function:

- ``ax`` (or ``fig`` for the multi-panel figures) draws into an existing Axes or
  Figure; without it a new figure is made.
- ``path`` saves the figure (PNG unless the suffix says otherwise, 120 dpi).
  An existing file is never replaced unless ``overwrite=True`` is passed: it
  raises FileExistsError naming the file, which is left as it was. The file
  appears complete or not at all (it is written beside it and then moved).
  A figure made *for* a file is a plain :class:`matplotlib.figure.Figure` drawn
  by the non-interactive Agg canvas: it never enters pyplot's list of open
  figures, so calling these functions in a loop leaks nothing and never touches
  the interactive backend. Without ``path`` (and without ``ax``) the figure is
  made through pyplot, so ``plt.show()`` and notebooks display it as usual.
- Every function returns the (root) :class:`~matplotlib.figure.Figure`; titles
  and axis labels are always set.
- Bad input raises a ValueError that names the argument.

Figures of the seed experiments:

- seed 001: :func:`datasets_by_angle` (Figure 1, the rotated dataset) and
  :func:`minima_maps_by_angle` (Figure 2, the 2-D map of the good minima), with
  :func:`loss_histogram`, :func:`trace` and :func:`diagnostics` for the runs;
- seed 004: :func:`eigenvalue_vs_loss` (smallest Hessian eigenvalue against the
  loss, per class), :func:`class_counts`, :func:`neurons` (student against
  teacher in the input plane) and :func:`eps_sweep`;
- :func:`series` for any other line plot of an experiment report.

Examples
--------
>>> import fastland as fl
>>> from fastland import plot
>>> data = fl.datasets.random_labels(n=10, seed=0)
>>> fig = plot.datasets_by_angle({a: data.rotate(a) for a in (0, 120, 240)},
...                              path="datasets.png")          # doctest: +SKIP
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Mapping, Sequence

import numpy as np

from ._docs import fill_doc
from ._outputs import save_figure
from ._validate import check_bool, check_finite_array, check_int, check_positive
from .data import Dataset

__all__ = [
    "class_counts",
    "dataset",
    "datasets_by_angle",
    "diagnostics",
    "eigenvalue_vs_loss",
    "eps_sweep",
    "loss_histogram",
    "minima_map",
    "minima_maps_by_angle",
    "neurons",
    "series",
    "trace",
]

_INSTALL = "pip install 'fastland[plot]'"
DPI = 120
#: Colours of the critical-point classes of :func:`fastland.critical.classify`, in legend order.
CLASS_COLORS = {
    "strict_saddle": "tab:red",
    "local_min": "tab:orange",
    "global_min": "tab:green",
    "degenerate": "tab:purple",
    "not_critical": "tab:gray",
}
_SPARE_COLORS = ("tab:blue", "tab:brown", "tab:pink", "tab:olive", "tab:cyan", "black")


# ------------------------------------------------------------------------------ helpers
#: the figure functions' shared docstring text (:func:`_figure_doc`)
_OVERWRITE_RETURNS = """\
overwrite : bool, default False
    Replace an existing file at ``path``; without it an existing file raises
    FileExistsError and is left untouched.

Returns
-------
matplotlib.figure.Figure"""


_AX_PATH = """\
ax : matplotlib.axes.Axes, optional
    Draw into this Axes.
path : str or path-like, optional
    Save the figure there (PNG, 120 dpi)."""


def _figure_doc(func):
    """The figure functions' shared text where their docstrings say ``{ax_path}`` and ``{overwrite_returns}``."""
    if "{ax_path}" in func.__doc__:
        fill_doc(func, "ax_path", _AX_PATH)
    return fill_doc(func, "overwrite_returns", _OVERWRITE_RETURNS)


def _mpl():
    """Import matplotlib or explain how to install it."""
    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError(f"fastland.plot needs matplotlib; install it with: {_INSTALL}") from exc
    return matplotlib


def _new_figure(path, figsize: tuple[float, float]):
    """Make a figure: pyplot-managed for screens, a bare Agg figure when it is made for a file."""
    _mpl()
    if path is None:
        import matplotlib.pyplot as plt

        return plt.figure(figsize=figsize, layout="constrained")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _root(fig):
    """Return the top-level Figure of a Figure or SubFigure."""
    while getattr(fig, "figure", fig) is not fig:
        fig = fig.figure
    return fig


def _check_path(path):
    if path is None:
        return None
    try:
        return os.fspath(path)
    except TypeError:
        raise ValueError(f"path: expected a str or path-like, got {type(path).__name__}") from None


def _check_ax(ax):
    _mpl()
    from matplotlib.axes import Axes

    if not isinstance(ax, Axes):
        raise ValueError(f"ax: expected a matplotlib Axes, got {type(ax).__name__}")
    return ax


def _check_axes(ax, n: int) -> list:
    """``ax`` as a list of ``n`` Axes (one Axes is accepted when n == 1)."""
    _mpl()
    from matplotlib.axes import Axes

    axes = [ax] if isinstance(ax, Axes) else list(np.ravel(np.asarray(ax, dtype=object)))
    if len(axes) != n or not all(isinstance(a, Axes) for a in axes):
        raise ValueError(f"ax: expected {n} matplotlib Axes (one per panel), got {ax!r}")
    return axes


def _check_fig(fig):
    _mpl()
    from matplotlib.figure import FigureBase

    if not isinstance(fig, FigureBase):
        raise ValueError(f"fig: expected a matplotlib Figure or SubFigure, got {type(fig).__name__}")
    return fig


def _single(ax, path, figsize):
    """(figure, axes) for a one-panel plot."""
    path = _check_path(path)
    if ax is None:
        fig = _new_figure(path, figsize)
        return fig, fig.add_subplot()
    ax = _check_ax(ax)
    return ax.figure, ax


def _finish(fig, path, overwrite: bool = False):
    """Save (when asked; an existing file only with ``overwrite``) and return the root figure."""
    fig = _root(fig)
    path = _check_path(path)
    overwrite = check_bool("overwrite", overwrite)
    if path is not None:
        kw = {} if os.path.splitext(path)[1] else {"format": "png"}
        save_figure(fig, path, overwrite=overwrite, argname="path", dpi=DPI, **kw)
    return fig


def _grid(fig, path, n: int, ncols, panel: tuple[float, float], **subplot_kw):
    """Make a grid of ``n`` panels in a new figure or in ``fig``."""
    ncols = min(n, 4) if ncols is None else check_int("ncols", ncols, 1)
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    if fig is None:
        fig = _new_figure(_check_path(path), (panel[0] * ncols, panel[1] * nrows))
    else:
        fig = _check_fig(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False, **subplot_kw).ravel()
    for a in axes[n:]:
        a.remove()
    return fig, list(axes[:n])


def _vector(name: str, value, n: int | None = None) -> np.ndarray:
    """Return a finite 1-D float array (a scalar becomes length 1), of length ``n`` when given."""
    a = check_finite_array(name, value, (0, 1)).ravel()
    if n is not None and a.size != n:
        raise ValueError(f"{name}: expected {n} values, one per point, got shape {np.shape(value)}")
    return a


def _matrix2(name: str, value, allow_empty: bool = False) -> np.ndarray:
    """Return a finite (n, 2) float array."""
    a = check_finite_array(name, value, 2)
    if a.shape[1] != 2 or (a.shape[0] == 0 and not allow_empty):
        raise ValueError(f"{name}: expected shape (n, 2) with n >= {0 if allow_empty else 1}, got {a.shape}")
    return a


def _positive_for_log(name: str, values: np.ndarray) -> tuple[np.ndarray, int, float]:
    """Values for a log axis: negatives are an error, zeros move to a floor below the rest.

    Returns the values, how many were zero and the floor they were drawn at.
    """
    if np.any(values < 0):
        bad = int(np.sum(values < 0))
        raise ValueError(f"{name}: expected values >= 0 for the log axis, found {bad} < 0")
    zero = values == 0
    n_zero = int(zero.sum())
    if not n_zero:
        return values, 0, math.nan
    pos = values[~zero]
    floor = float(pos.min()) / 10.0 if pos.size else 1e-300
    return np.where(zero, floor, values), n_zero, floor


def _note(ax, text: str, loc: str = "upper left") -> None:
    """Write a small text box in a corner of the axes."""
    x, ha = (0.02, "left") if "left" in loc else (0.98, "right")
    y, va = (0.98, "top") if "upper" in loc else (0.02, "bottom")
    ax.text(
        x,
        y,
        text,
        transform=ax.transAxes,
        ha=ha,
        va=va,
        fontsize="small",
        bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.8, "edgecolor": "0.7"},
    )


def _angle_title(angle) -> str:
    if isinstance(angle, numbers.Real) and not isinstance(angle, bool):
        return f"θ = {float(angle):g}°"
    return str(angle)


def _check_mapping(name: str, value) -> Mapping:
    if not isinstance(value, Mapping) or len(value) == 0:
        raise ValueError(f"{name}: expected a non-empty dict, got {type(value).__name__}")
    return value


# ------------------------------------------------------------------------------ datasets
def _as_dataset(data) -> Dataset:
    if isinstance(data, Dataset):
        d = data
    elif isinstance(data, tuple | list) and len(data) == 2:
        d = Dataset(*data)
    else:
        raise ValueError(f"data: expected a fastland.Dataset or a pair (X, y), got {type(data).__name__}")
    if d.dim != 2:
        raise ValueError(f"data: expected 2-D inputs, X of shape (N, 2), got X of shape {d.X.shape}")
    return d


def _class_labels(d: Dataset) -> np.ndarray | None:
    """Integer classes of a dataset, or None for real targets (coloured by a colour map)."""
    y = d.y
    if y.ndim == 2 and y.shape[1] > 1:
        if np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=1) == 1):  # one-hot
            return y.argmax(axis=1)
        raise ValueError(f"data: expected class labels or one real target per point, got y of shape {y.shape}")
    try:
        labels = d.class_labels()
    except ValueError:
        return None
    return labels if np.unique(labels).size <= 10 else None


def _target_norm(ys: list[np.ndarray]):
    """Colour map and limits for real targets: diverging around 0 when they have both signs."""
    lo = min(float(y.min()) for y in ys)
    hi = max(float(y.max()) for y in ys)
    if lo < 0 < hi:
        m = max(-lo, hi)
        return "coolwarm", -m, m
    return "viridis", lo, hi


def _dataset_panel(ax, d: Dataset, title: str, target_scale=None, adjustable: str = "datalim"):
    """Draw one dataset; returns the colour mappable for real targets (else None)."""
    labels = _class_labels(d)
    size = float(np.clip(4000.0 / d.n, 4.0, 40.0))
    mappable = None
    if labels is not None:
        for k in np.unique(labels):
            sel = labels == k
            ax.scatter(
                d.X[sel, 0],
                d.X[sel, 1],
                s=size,
                color=f"C{int(k) % 10}",
                edgecolors="black",
                linewidths=0.4,
                label=f"class {int(k)} ({int(sel.sum())})",
            )
        ax.legend(fontsize="small", loc="best")
    else:
        y = d.y.ravel()
        cmap, lo, hi = target_scale if target_scale is not None else _target_norm([y])
        mappable = ax.scatter(d.X[:, 0], d.X[:, 1], c=y, s=size, cmap=cmap, vmin=lo, vmax=hi)
    ax.set_aspect("equal", adjustable=adjustable)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title(title)
    return mappable


@_figure_doc
def dataset(data, ax=None, title: str | None = None, path=None, *, overwrite: bool = False):
    """Scatter plot of a dataset with 2-D inputs.

    Parameters
    ----------
    data : Dataset or tuple (X, y)
        Inputs X of shape (N, 2). Integer labels (at most 10 classes, or one-hot
        rows) give one colour per class and a legend; real targets are coloured
        by a colour map with a colour bar (diverging around 0 when they take
        both signs).
    ax : matplotlib.axes.Axes, optional
        Draw into this Axes.
    title : str, optional
        Default "Dataset (N points)".
    path : str or path-like, optional
        Save the figure there (PNG, 120 dpi).
    {overwrite_returns}

    Raises
    ------
    ValueError
        If ``data`` is not a Dataset or pair (X, y) with 2-D inputs.
    """
    d = _as_dataset(data)
    fig, ax = _single(ax, path, (5.0, 4.6))
    mappable = _dataset_panel(ax, d, title or f"Dataset ({d.n} points)")
    if mappable is not None:
        ax.figure.colorbar(mappable, ax=ax, label="target y")
    return _finish(fig, path, overwrite)


@_figure_doc
def datasets_by_angle(
    datasets: Mapping,
    path=None,
    fig=None,
    ncols: int | None = None,
    title: str | None = None,
    *,
    overwrite: bool = False,
):
    """One panel per rotation angle (seed 001, Figure 1).

    Parameters
    ----------
    datasets : dict of angle -> Dataset
        E.g. ``{a: data.rotate(a) for a in (0, 120, 240)}``; panels follow the
        dict's order and are titled "θ = a°". Panels share their axes, so the
        rotation is visible.
    path : str or path-like, optional
        Save the figure there (PNG, 120 dpi).
    fig : matplotlib.figure.Figure or SubFigure, optional
        Draw into this figure (its panels are added with ``fig.subplots``).
    ncols : int, optional
        Panels per row (default: up to 4).
    title : str, optional
        Figure title (default "Dataset per rotation angle").
    {overwrite_returns}

    Raises
    ------
    ValueError
        If ``datasets`` is empty or not a dict, or a dataset is invalid.
    """
    datasets = _check_mapping("datasets", datasets)
    ds = {}
    for angle, d in datasets.items():
        try:
            ds[angle] = _as_dataset(d)
        except ValueError as exc:
            raise ValueError(f"datasets[{angle!r}]: {exc}") from None
    real = [d for d in ds.values() if _class_labels(d) is None]
    scale = _target_norm([d.y.ravel() for d in real]) if real else None
    fig, axes = _grid(fig, path, len(ds), ncols, (3.6, 3.5), sharex=True, sharey=True)
    mappable = None
    for ax, (angle, d) in zip(axes, ds.items(), strict=True):
        m = _dataset_panel(ax, d, _angle_title(angle), target_scale=scale, adjustable="box")
        mappable = mappable or m
    if mappable is not None:
        fig.colorbar(mappable, ax=axes, label="target y")
    fig.suptitle(title or "Dataset per rotation angle")
    return _finish(fig, path, overwrite)


# ------------------------------------------------------------------------------ minima maps
def _explained_text(explained) -> tuple[str | None, np.ndarray | None]:
    if explained is None:
        return None, None
    e = _vector("explained", explained)
    if e.size == 0 or np.any(e < 0) or e.sum() > 1 + 1e-9:
        raise ValueError(f"explained: expected variance ratios in [0, 1] summing to <= 1, got {e.tolist()}")
    text = f"explained variance: {e.sum():.3f}"
    if e.size > 1:
        text += " (" + " + ".join(f"{v:.3f}" for v in e) + ")"
    return text, e


def _check_minima(coords, loss, explained, null) -> tuple:
    """Validate one minima map: (coords, loss or None, explained text, explained ratios, null)."""
    c = _matrix2("coords", coords, allow_empty=True)
    lv = None if loss is None else _vector("loss", loss, c.shape[0])
    etext, e = _explained_text(explained)
    nv = None if null is None else check_positive("null", null, allow_zero=True)
    return c, lv, etext, e, nv


def _minima_panel(ax, checked: tuple, title, vmin=None, vmax=None):
    c, lv, etext, e, nv = checked
    mappable = None
    if lv is None:
        ax.scatter(c[:, 0], c[:, 1], s=10, color="C0", alpha=0.7, linewidths=0)
    else:
        mappable = ax.scatter(
            c[:, 0], c[:, 1], c=lv, s=10, cmap="viridis", vmin=vmin, vmax=vmax, alpha=0.8, linewidths=0
        )
    lines = [f"{c.shape[0]} points"]
    if etext:
        lines.append(etext)
    if nv is not None:
        lines.append(f"isotropic null: {nv:.3f}")
    if c.shape[0] == 0:
        lines[0] = "no points"
    _note(ax, "\n".join(lines))
    if c.shape[0]:
        ax.set_aspect("equal", adjustable="datalim")
    pc = [f"PC {i + 1}" for i in range(2)]
    if e is not None and e.size >= 2:
        pc = [f"PC {i + 1} ({100 * e[i]:.1f}%)" for i in range(2)]
    ax.set_xlabel(pc[0])
    ax.set_ylabel(pc[1])
    ax.set_title(title)
    return mappable


@_figure_doc
def minima_map(
    coords,
    loss=None,
    ax=None,
    title: str | None = None,
    explained=None,
    null=None,
    path=None,
    *,
    overwrite: bool = False,
):
    """2-D map of the good minima, coloured by loss (seed 001, Figure 2).

    Parameters
    ----------
    coords : array_like, shape (n, 2)
        The low-loss draws projected to two dimensions (e.g. kernel PCA then
        linear PCA). ``n = 0`` draws an empty panel marked "no points".
    loss : array_like, shape (n,), optional
        Loss of each point: colours with a colour bar.
    ax : matplotlib.axes.Axes, optional
        Draw into this Axes.
    title : str, optional
        Default "Good minima (2-D map)".
    explained : float or array_like, optional
        Explained variance ratio of the 2-D projection, as one number or per
        component (then the axis labels show each component's share).
    null : float, optional
        The same ratio expected for an isotropic cloud (the null model), shown
        next to it.
    path : str or path-like, optional
        Save the figure there (PNG, 120 dpi).
    {overwrite_returns}

    Raises
    ------
    ValueError
        If ``coords`` is not (n, 2), ``loss`` not (n,), values are not finite,
        ``explained`` is not a set of ratios or ``null`` is negative.
    """
    checked = _check_minima(coords, loss, explained, null)
    fig, ax = _single(ax, path, (5.6, 4.6))
    mappable = _minima_panel(ax, checked, title or "Good minima (2-D map)")
    if mappable is not None:
        ax.figure.colorbar(mappable, ax=ax, label="loss")
    return _finish(fig, path, overwrite)


def _unpack_map(angle, entry) -> tuple:
    keys = ("coords", "loss", "explained", "null")
    if isinstance(entry, Mapping):
        unknown = set(entry) - set(keys)
        if unknown or "coords" not in entry:
            raise ValueError(f"maps[{angle!r}]: expected keys {keys} (coords required), got {sorted(entry)}")
        return tuple(entry.get(k) for k in keys)
    if isinstance(entry, tuple | list) and 1 <= len(entry) <= 4:
        return tuple(entry) + (None,) * (4 - len(entry))
    if isinstance(entry, np.ndarray):
        return (entry, None, None, None)
    raise ValueError(
        f"maps[{angle!r}]: expected a tuple (coords, loss, explained, null) or a dict, got {type(entry).__name__}"
    )


@_figure_doc
def minima_maps_by_angle(
    maps: Mapping, path=None, fig=None, ncols: int | None = None, title: str | None = None, *, overwrite: bool = False
):
    """One minima map per rotation angle, with a shared colour scale (seed 001, Figure 2).

    Parameters
    ----------
    maps : dict of angle -> tuple
        ``(coords, loss, explained, null)`` per angle (trailing items may be
        left out or None), or a dict with those keys; see :func:`minima_map`.
    path : str or path-like, optional
        Save the figure there (PNG, 120 dpi).
    fig : matplotlib.figure.Figure or SubFigure, optional
        Draw into this figure.
    ncols : int, optional
        Panels per row (default: up to 4).
    title : str, optional
        Figure title (default "Good minima per rotation angle").
    {overwrite_returns}

    Raises
    ------
    ValueError
        If ``maps`` is empty or an entry is invalid (the message names its angle).
    """
    maps = _check_mapping("maps", maps)
    entries = {}
    for a, entry in maps.items():
        try:
            entries[a] = _check_minima(*_unpack_map(a, entry))
        except ValueError as exc:
            msg = str(exc)
            raise ValueError(msg if msg.startswith("maps[") else f"maps[{a!r}]: {msg}") from None
    finite = [lv for _, lv, *_ in entries.values() if lv is not None and lv.size]
    vmin = min(float(v.min()) for v in finite) if finite else None
    vmax = max(float(v.max()) for v in finite) if finite else None
    fig, axes = _grid(fig, path, len(entries), ncols, (3.8, 3.6))
    mappable = None
    for ax, (a, checked) in zip(axes, entries.items(), strict=True):
        m = _minima_panel(ax, checked, _angle_title(a), vmin=vmin, vmax=vmax)
        mappable = mappable or m
    if mappable is not None:
        fig.colorbar(mappable, ax=axes, label="loss")
    fig.suptitle(title or "Good minima per rotation angle")
    return _finish(fig, path, overwrite)


# ------------------------------------------------------------------------------ runs
def _is_run(obj) -> bool:
    return hasattr(obj, "draws") and hasattr(obj, "loss")


@_figure_doc
def loss_histogram(
    loss,
    threshold: float | None = None,
    ax=None,
    log: bool = True,
    path=None,
    bins: int = 60,
    title: str | None = None,
    *,
    overwrite: bool = False,
):
    """Histogram of the sampled loss, with the low-loss threshold.

    Parameters
    ----------
    loss : array_like of any shape, or Run
        Loss values, e.g. ``run.loss`` (read in full) or the run itself.
    threshold : float, optional
        Draw a vertical line there; the legend gives the share of values below it.
    ax : matplotlib.axes.Axes, optional
        Draw into this Axes.
    log : bool, default True
        Log-scaled loss axis with log-spaced bins. Losses of exactly 0 are then
        counted in the lowest bin and noted on the plot; negative losses are an
        error.
    path : str or path-like, optional
        Save the figure there (PNG, 120 dpi).
    bins : int, default 60
        Number of bins.
    title : str, optional
        Default "Sampled loss (n values)".
    {overwrite_returns}

    Raises
    ------
    ValueError
        If ``loss`` is empty or not finite (or negative with ``log``), or
        ``threshold`` / ``bins`` is invalid.
    """
    if _is_run(loss):
        loss = loss.loss
    v = np.asarray(loss)
    if v.dtype == object or not (np.issubdtype(v.dtype, np.integer) or np.issubdtype(v.dtype, np.floating)):
        raise ValueError(f"loss: expected a real numeric array, got dtype {v.dtype}")
    v = v.astype(float).ravel()
    if not np.all(np.isfinite(v)):
        raise ValueError(f"loss: expected finite values, found {int(np.sum(~np.isfinite(v)))} NaN or inf")
    if v.size == 0:
        raise ValueError("loss: expected at least one value, got an empty array")
    bins = check_int("bins", bins, 1)
    if not isinstance(log, bool | np.bool_):
        raise ValueError(f"log: expected True or False, got {log!r}")
    if threshold is not None:
        threshold = check_positive("threshold", threshold, allow_zero=not log)
    n_zero = 0
    if log:
        shown, n_zero, _ = _positive_for_log("loss", v)
        lo, hi = float(shown.min()), float(shown.max())
        if lo == hi:
            lo, hi = lo / 1.5, hi * 1.5
        edges = np.geomspace(lo, hi, bins + 1)
    else:
        shown = v
        edges = bins
    fig, ax = _single(ax, path, (6.0, 4.2))
    if log:
        ax.set_xscale("log")
    ax.hist(shown, bins=edges, histtype="stepfilled", color="C0", alpha=0.6, edgecolor="C0", label="loss values")
    if threshold is not None:
        share = float(np.mean(v < threshold))
        ax.axvline(threshold, color="C3", linestyle="--", label=f"threshold {threshold:g}: {share:.1%} below")
    ax.legend(fontsize="small")
    if n_zero:
        _note(ax, f"{n_zero} values of 0 in the lowest bin", loc="upper right")
    ax.set_xlabel("loss U(w)")
    ax.set_ylabel("count")
    ax.set_title(title or f"Sampled loss ({v.size} values)")
    return _finish(fig, path, overwrite)


def _as_lazy(name: str, x):
    """Return ``x`` if it is an array or lazily indexable array (no read), else ``np.asarray(x)``."""
    if isinstance(x, np.ndarray) or all(hasattr(x, a) for a in ("shape", "ndim", "__getitem__")):
        return x
    try:
        return np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected an array (chain, draw[, param]) or a Run") from None


@_figure_doc
def trace(
    run_or_array,
    params=(0, 1),
    chains=4,
    ax=None,
    path=None,
    max_points: int = 5000,
    title: str | None = None,
    *,
    overwrite: bool = False,
):
    """Trace plots of a few chains for a few parameters (and the loss of a run).

    Only the plotted chains, parameters and (thinned) draws are read, e.g.
    ``run.draws[:4, ::stride, j]``, so this is cheap on a long run file.

    Parameters
    ----------
    run_or_array : Run or array_like, shape (chain, draw, param) or (chain, draw)
        A run (then a last panel shows the loss) or draws; a 2-D array is one
        series and ``params`` is ignored.
    params : int or sequence of int, default (0, 1)
        Parameter indices, one panel each (negative indices count from the end).
    chains : int or sequence of int, default 4
        The first ``chains`` chains (fewer if the run has fewer), or these chain
        indices.
    ax : matplotlib.axes.Axes or sequence of Axes, optional
        One Axes per panel to draw into.
    path : str or path-like, optional
        Save the figure there (PNG, 120 dpi).
    max_points : int, default 5000
        Every ``stride``-th draw is plotted, with the smallest stride that leaves
        at most this many points per line.
    title : str, optional
        Figure title (default "Trace plots").
    {overwrite_returns}

    Raises
    ------
    ValueError
        If the draws are not 2-D or 3-D, or ``params`` / ``chains`` /
        ``max_points`` / ``ax`` are invalid.
    """
    if _is_run(run_or_array):
        draws, loss = _as_lazy("run_or_array", run_or_array.draws), _as_lazy("loss", run_or_array.loss)
    else:
        draws, loss = _as_lazy("run_or_array", run_or_array), None
    if draws.ndim not in (2, 3):
        raise ValueError(f"run_or_array: expected draws of shape (chain, draw[, param]), got {draws.shape}")
    C, n = int(draws.shape[0]), int(draws.shape[1])
    if C == 0 or n == 0:
        raise ValueError(f"run_or_array: expected at least one chain and one draw, got shape {draws.shape}")
    max_points = check_int("max_points", max_points, 2)

    if isinstance(chains, numbers.Integral) and not isinstance(chains, bool):
        k = check_int("chains", chains, 1)
        chain_sel, chain_ids = slice(0, min(k, C)), list(range(min(k, C)))
    else:
        try:
            ids = [int(c) for c in chains if isinstance(c, numbers.Integral) and not isinstance(c, bool)]
            ok = len(ids) == len(chains) and len(ids) > 0
        except TypeError:
            ok = False
        if not ok or len(set(ids)) != len(ids) or not all(-C <= c < C for c in ids):
            raise ValueError(f"chains: expected a count >= 1 or distinct chain indices in [0, {C}), got {chains!r}")
        chain_ids = [c % C for c in ids]
        chain_sel = np.array(chain_ids, dtype=np.intp)

    if draws.ndim == 3:
        P = int(draws.shape[2])
        plist = [params] if isinstance(params, numbers.Integral) else params
        try:
            ok = (
                not isinstance(plist, str | bytes)
                and len(plist) > 0
                and all(isinstance(j, numbers.Integral) and not isinstance(j, bool) for j in plist)
            )
        except TypeError:
            ok = False
        if not ok or not all(-P <= j < P for j in plist):
            raise ValueError(f"params: expected parameter indices in [0, {P}), got {params!r}")
        pids = [int(j) % P for j in plist]
        panels = [(f"w[{j}]", (chain_sel, None, j)) for j in pids]
    else:
        panels = [("x", (chain_sel, None))]
    if loss is not None:
        panels.append(("loss", None))

    stride = max(1, -(-n // max_points))
    steps = np.arange(0, n, stride)
    if ax is None:
        fig = _new_figure(_check_path(path), (8.0, 1.2 + 1.9 * len(panels)))
        axes = list(fig.subplots(len(panels), 1, sharex=True, squeeze=False).ravel())
    else:
        axes = _check_axes(ax, len(panels))
        fig = axes[0].figure
    for a, (name, key) in zip(axes, panels, strict=True):
        if key is None:
            y = np.asarray(loss[chain_sel, ::stride])
        else:
            y = np.asarray(draws[(key[0], slice(None, None, stride), *key[2:])])
        for i, c in enumerate(chain_ids):
            a.plot(steps, y[i], lw=0.7, color=f"C{i % 10}", label=f"chain {c}")
        a.set_title(name, loc="left", fontsize="medium")
        a.set_ylabel("loss" if key is None else "value")
        if ax is not None or a is axes[-1]:  # a new figure shares the x axis: label the bottom only
            a.set_xlabel("draw")
    if len(chain_ids) <= 10:  # above the first panel, right of its title
        axes[0].legend(
            fontsize="x-small",
            ncols=min(len(chain_ids), 5),
            loc="lower right",
            bbox_to_anchor=(1.0, 1.0),
            frameon=False,
            borderaxespad=0.1,
        )
    every = "every draw" if stride == 1 else f"every {stride}th draw"
    if ax is None:
        fig.suptitle(title or f"Trace plots ({len(chain_ids)} of {C} chains, {every})")
    return _finish(fig, path, overwrite)


def _summary_table(obj, max_draws: int) -> dict:
    """Per-parameter R-hat and ESS from a summary dict, a Run or draws."""
    from . import diagnostics as diag

    def thinned_summary(x, prefix: str | None):
        n = int(x.shape[1])
        stride = max(1, -(-n // max_draws))
        if x.ndim == 2:
            t = diag.summary(np.asarray(x[:, ::stride], dtype=float), names=[prefix or "x"])
            return t
        P = int(x.shape[2])
        C = int(x.shape[0])
        m = len(range(0, n, stride))
        q = max(1, (64 * 2**20) // (8 * max(C * m, 1)))  # read at most ~64 MiB at a time
        parts = [
            diag.summary(
                np.asarray(x[:, ::stride, j : j + q], dtype=float), names=[f"w[{i}]" for i in range(j, min(j + q, P))]
            )
            for j in range(0, P, q)
        ]
        return {k: np.concatenate([p[k] for p in parts]) for k in ("name", "rhat", "ess_bulk", "ess_tail")}

    if isinstance(obj, Mapping):
        missing = [k for k in ("rhat", "ess_bulk", "ess_tail") if k not in obj]
        if missing:
            raise ValueError(f"summary: expected the keys rhat, ess_bulk, ess_tail; missing {missing}")
        cols = {}
        for k in ("rhat", "ess_bulk", "ess_tail"):
            a = np.asarray(obj[k], dtype=float).ravel()
            if a.size == 0:
                raise ValueError(f"summary: column {k!r} is empty")
            cols[k] = a
        n = cols["rhat"].size
        if any(a.size != n for a in cols.values()):
            raise ValueError(
                "summary: expected columns rhat, ess_bulk, ess_tail of equal length, got "
                + ", ".join(f"{k}: {a.size}" for k, a in cols.items())
            )
        names = obj.get("name")
        cols["name"] = (
            np.array([f"x[{i}]" for i in range(n)]) if names is None else np.asarray(names, dtype=str).ravel()
        )
        if cols["name"].size != n:
            raise ValueError(f"summary: expected {n} names, got {cols['name'].size}")
        return cols
    if _is_run(obj):
        t = thinned_summary(_as_lazy("summary", obj.draws), None)
        tl = thinned_summary(_as_lazy("summary", obj.loss), "loss")
        parts = [t, tl]
        if obj.n_draws >= 4 and obj.n_chains >= 2:
            # the weights in canonical form (hidden-unit permutations and sign flips removed):
            # raw weights' R-hat is inflated by exact symmetries (see fastland.convergence)
            from .geometry import canonical_form

            stride = max(1, -(-obj.n_draws // 500))
            W = np.asarray(obj.draws[:, ::stride], dtype=float)
            canon = canonical_form(obj.landscape().net, W.reshape(-1, W.shape[2])).reshape(W.shape)
            varying = np.ptp(canon.reshape(-1, canon.shape[2]), axis=0) > 0
            if varying.any():
                tc = diag.summary(canon[:, :, varying], names=[f"c[{i}]" for i in np.flatnonzero(varying)])
                parts.append(tc)
        return {k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in ("name", "rhat", "ess_bulk", "ess_tail")}
    if hasattr(obj, "rows") and hasattr(obj, "rhat_max"):
        raise ValueError(
            "summary: a RunSummary holds only maxima; pass the Run itself or fastland.diagnostics.summary(draws)"
        )
    x = _as_lazy("summary", obj)
    if x.ndim not in (2, 3):
        raise ValueError(
            f"summary: expected a summary dict, a Run or draws (chain, draw[, param]), got shape {x.shape}"
        )
    return thinned_summary(x, None)


@_figure_doc
def diagnostics(
    summary,
    ax=None,
    path=None,
    max_draws: int = 4000,
    ess_ref: float | None = 400.0,
    title: str | None = None,
    *,
    overwrite: bool = False,
):
    """R-hat and bulk / tail ESS per parameter, in two panels.

    Parameters
    ----------
    summary : dict, Run or array_like
        The dict of :func:`fastland.diagnostics.summary` (keys ``rhat``,
        ``ess_bulk``, ``ess_tail``, optional ``name``); or a run, whose
        parameters and loss are diagnosed; or draws (chain, draw[, param]).
    ax : sequence of two matplotlib Axes, optional
        Draw R-hat into the first and ESS into the second.
    path : str or path-like, optional
        Save the figure there (PNG, 120 dpi).
    max_draws : int, default 4000
        For a run or draws: use every ``stride``-th draw, with the smallest
        stride that leaves at most this many draws per chain (as
        :meth:`fastland.Run.summary` does).
    ess_ref : float or None, default 400
        Dotted reference line on the ESS panel (400 is the usual minimum for 4
        chains); None for none.
    title : str, optional
        Figure title (default "Convergence diagnostics").
    {overwrite_returns}

    Raises
    ------
    ValueError
        If ``summary`` is none of the above or its columns differ in length.
    """
    max_draws = check_int("max_draws", max_draws, 4)
    if ess_ref is not None:
        ess_ref = check_positive("ess_ref", ess_ref)
    t = _summary_table(summary, max_draws)
    canonical = any(str(n).startswith("c[") for n in t["name"])
    xlabel = "parameter (w: raw weights, c: canonical form, symmetries removed)" if canonical else "parameter"
    names, rhat, bulk, tail = t["name"], t["rhat"], t["ess_bulk"], t["ess_tail"]
    n = rhat.size
    idx = np.arange(n)
    if ax is None:
        fig = _new_figure(_check_path(path), (max(6.0, min(16.0, 2.0 + 0.3 * n)), 6.4))
        ax_r, ax_e = fig.subplots(2, 1, sharex=True)
    else:
        ax_r, ax_e = _check_axes(ax, 2)
        fig = ax_r.figure
    ok = np.isfinite(rhat)
    bad = ok & (rhat > 1.01)
    ax_r.axhline(1.0, color="0.6", lw=0.8)
    ax_r.axhline(1.01, color="C3", ls="--", lw=1, label="1.01")
    if (ok & ~bad).any():
        ax_r.scatter(idx[ok & ~bad], rhat[ok & ~bad], s=18, color="C0", label="R-hat ≤ 1.01")
    if bad.any():
        ax_r.scatter(idx[bad], rhat[bad], s=22, color="C3", marker="D", label=f"R-hat > 1.01 ({int(bad.sum())})")
    if not ok.any():
        _note(ax_r, "R-hat needs at least 2 chains")
    ax_r.legend(fontsize="small", loc="best")
    ax_r.set_title("Split R-hat (rank-normalised)")
    ax_r.set_ylabel("R-hat")
    ax_r.set_xlabel(xlabel)

    width = 0.4
    ax_e.bar(idx - width / 2, bulk, width, color="C0", label="bulk ESS")
    ax_e.bar(idx + width / 2, tail, width, color="C1", label="tail ESS")
    if ess_ref is not None:
        ax_e.axhline(ess_ref, color="0.3", ls=":", lw=1, label=f"{ess_ref:g}")
    both = np.concatenate([bulk, tail])
    pos = both[np.isfinite(both) & (both > 0)]
    if pos.size and pos.max() / pos.min() > 100:
        ax_e.set_yscale("log")
    ax_e.legend(fontsize="small", loc="best")
    ax_e.set_title("Effective sample size")
    ax_e.set_ylabel("ESS")
    ax_e.set_xlabel(xlabel)
    if n <= 40:
        ax_e.set_xticks(idx, names, rotation=90, fontsize="small")
        if ax is not None:  # not shared: label both panels
            ax_r.set_xticks(idx, names, rotation=90, fontsize="small")
    if ax is None:
        fig.suptitle(title or "Convergence diagnostics")
    return _finish(fig, path, overwrite)


# ------------------------------------------------------------------------------ critical points
def _class_colors(labels: Sequence[str]) -> dict[str, str]:
    out, spare = {}, iter(_SPARE_COLORS * 10)
    for lab in labels:
        out[lab] = CLASS_COLORS.get(lab) or next(spare)
    return out


def _ordered_labels(found) -> list[str]:
    found = list(dict.fromkeys(found))
    return [k for k in CLASS_COLORS if k in found] + [k for k in found if k not in CLASS_COLORS]


@_figure_doc
def eigenvalue_vs_loss(
    min_eig,
    loss=None,
    labels=None,
    ax=None,
    path=None,
    title: str | None = None,
    linthresh: float | None = None,
    *,
    overwrite: bool = False,
):
    """Smallest Hessian eigenvalue against the loss, coloured by class (seed 004).

    Parameters
    ----------
    min_eig : array_like, shape (n,), or Classification
        Smallest Hessian eigenvalue per point. A result of
        :func:`fastland.critical.classify` supplies ``min_eig``, ``loss`` and
        ``labels`` at once.
    loss : array_like, shape (n,)
        Loss per point (>= 0), on a log axis; points with loss exactly 0 are
        drawn at a floor below the smallest positive loss and counted in a note.
    labels : array_like of str, shape (n,), optional
        Class per point, e.g. "strict_saddle", "local_min", "global_min",
        "degenerate", "not_critical"; one colour each (fixed for these five) and
        a legend with counts.
    {ax_path}
    title : str, optional
        Default "Smallest Hessian eigenvalue vs loss".
    linthresh : float, optional
        Linear range of the symlog eigenvalue axis (default: the power of ten
        below the 5 % quantile of the nonzero ``|min_eig|``).
    {overwrite_returns}

    Raises
    ------
    ValueError
        If the arrays are not finite, differ in length, or the loss is negative.
    """
    if loss is None and hasattr(min_eig, "lambda_min") and hasattr(min_eig, "loss"):
        cls = min_eig
        min_eig, loss = np.atleast_1d(cls.lambda_min), np.atleast_1d(cls.loss)
        labels = np.atleast_1d(cls.label) if labels is None else labels
    if loss is None:
        raise ValueError("loss: expected an array (n,) of losses, got None")
    e = _vector("min_eig", min_eig)
    if e.size == 0:
        raise ValueError("min_eig: expected at least one value")
    lv = _vector("loss", loss, e.size)
    lv, n_zero, _ = _positive_for_log("loss", lv)
    if labels is not None:
        lab = np.asarray(labels).astype(str).ravel()
        if lab.size != e.size:
            raise ValueError(f"labels: expected {e.size} labels, one per point, got shape {np.shape(labels)}")
    else:
        lab = None
    if linthresh is None:
        nz = np.abs(e[e != 0])
        linthresh = 10.0 ** math.floor(math.log10(float(np.quantile(nz, 0.05)))) if nz.size else 1.0
    else:
        linthresh = check_positive("linthresh", linthresh)
    fig, ax = _single(ax, path, (6.4, 4.6))
    ax.axhline(0.0, color="0.5", lw=0.8)
    if lab is None:
        ax.scatter(lv, e, s=14, color="C0", alpha=0.7, linewidths=0)
    else:
        order = _ordered_labels(lab)
        colors = _class_colors(order)
        for k in order:
            sel = lab == k
            ax.scatter(
                lv[sel], e[sel], s=14, color=colors[k], alpha=0.75, linewidths=0, label=f"{k} ({int(sel.sum())})"
            )
        ax.legend(fontsize="small", loc="best")
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=linthresh)
    if n_zero:
        _note(ax, f"{n_zero} points with loss 0 drawn at the left edge", loc="lower right")
    ax.set_xlabel("loss")
    ax.set_ylabel(f"smallest Hessian eigenvalue (symlog, linear within ±{linthresh:.0e})")
    ax.set_title(title or "Smallest Hessian eigenvalue vs loss")
    return _finish(fig, path, overwrite)


@_figure_doc
def class_counts(
    counts: Mapping, ax=None, path=None, normalize: bool = False, title: str | None = None, *, overwrite: bool = False
):
    """Plot grouped bars: how many points of each class, per student width (seed 004).

    Parameters
    ----------
    counts : dict of width -> dict of label -> int
        E.g. ``{5: {"strict_saddle": 347, "local_min": 100, ...}, 6: {...}}``;
        a value may also be a :class:`fastland.critical.Classification` (its
        ``counts()`` are used). Widths are sorted; missing labels count 0.
    {ax_path}
    normalize : bool, default False
        Plot fractions of each width's total instead of counts.
    title : str, optional
        Default "Critical points by class".
    {overwrite_returns}

    Raises
    ------
    ValueError
        If ``counts`` is empty or holds anything but non-negative integer counts.
    """
    counts = _check_mapping("counts", counts)
    table: dict = {}
    for w, row in counts.items():
        if hasattr(row, "counts") and callable(row.counts):
            row = row.counts()
        if not isinstance(row, Mapping):
            raise ValueError(f"counts[{w!r}]: expected a dict of label -> count, got {type(row).__name__}")
        for k, v in row.items():
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0:
                raise ValueError(f"counts[{w!r}][{k!r}]: expected an integer >= 0, got {v!r}")
        table[w] = {str(k): int(v) for k, v in row.items()}
    try:
        widths = sorted(table)
    except TypeError:
        widths = list(table)
    labels = _ordered_labels(k for row in table.values() for k in row)
    if not labels:
        raise ValueError("counts: expected at least one label")
    colors = _class_colors(labels)
    M = np.array([[table[w].get(k, 0) for k in labels] for w in widths], dtype=float)
    if normalize:
        tot = M.sum(axis=1, keepdims=True)
        M = np.divide(M, tot, out=np.zeros_like(M), where=tot > 0)
    fig, ax = _single(ax, path, (max(5.0, 1.4 + 0.9 * len(widths) * max(1, len(labels)) / 3), 4.4))
    x = np.arange(len(widths))
    width = 0.8 / len(labels)
    for i, k in enumerate(labels):
        bars = ax.bar(x + (i - (len(labels) - 1) / 2) * width, M[:, i], width, color=colors[k], label=k)
        texts = [(f"{v:.2f}" if normalize else f"{int(v)}") if v else "" for v in M[:, i]]
        ax.bar_label(bars, labels=texts, fontsize="x-small", padding=1)
    ax.set_xticks(x, [str(w) for w in widths])
    ax.margins(y=0.12)
    ax.legend(fontsize="small")
    ax.set_xlabel("student width m")
    ax.set_ylabel("fraction of points" if normalize else "count")
    ax.set_title(title or "Critical points by class")
    return _finish(fig, path, overwrite)


@_figure_doc
def neurons(
    student_W,
    teacher_W=None,
    student_a=None,
    teacher_a=None,
    ax=None,
    path=None,
    title: str | None = None,
    mirror: bool = False,
    *,
    overwrite: bool = False,
):
    """Incoming weight vectors of a student's neurons against the teacher's (seed 004).

    Each hidden neuron is a point in the input plane (its incoming weights
    ``(w_1, w_2)``): crosses for the teacher, dots for the student, sized and
    coloured by the outgoing weight when given.

    Parameters
    ----------
    student_W : array_like, shape (m, 2)
        Student incoming weights (a student's parameters are W (m x 2) then a).
    teacher_W : array_like, shape (r, 2), optional
        Teacher incoming weights.
    student_a : array_like, shape (m,), optional
        Student outgoing weights: dot colour (diverging colour map, shared with
        the teacher's) and size (proportional to ``|a|``).
    teacher_a : array_like, shape (r,), optional
        Teacher outgoing weights, written next to the crosses.
    {ax_path}
    title : str, optional
        Default "Incoming weights: student (m) vs teacher (r)".
    mirror : bool, default False
        Also mark ``-w`` of each teacher neuron (grey crosses): because
        ``sigmoid(-z) = 1 - sigmoid(z)``, a student neuron there can stand in for
        the teacher's, up to a constant.
    {overwrite_returns}

    Raises
    ------
    ValueError
        If an array has the wrong shape (the message names it) or is not finite.
    """
    S = _matrix2("student_W", student_W)
    m = S.shape[0]
    sa = None if student_a is None else _vector("student_a", student_a, m)
    T = None if teacher_W is None else _matrix2("teacher_W", teacher_W)
    if teacher_a is not None and T is None:
        raise ValueError("teacher_a: given without teacher_W")
    ta = None if teacher_a is None else _vector("teacher_a", teacher_a, T.shape[0])
    fig, ax = _single(ax, path, (5.6, 4.8))
    ax.axhline(0, color="0.8", lw=0.8, zorder=0)
    ax.axvline(0, color="0.8", lw=0.8, zorder=0)
    if T is not None and mirror:
        ax.scatter(
            -T[:, 0],
            -T[:, 1],
            marker="x",
            s=90,
            color="0.65",
            linewidths=2,
            label="−teacher (σ(−z) = 1 − σ(z))",
            zorder=2,
        )
    if sa is None:
        ax.scatter(
            S[:, 0], S[:, 1], s=50, color="C0", edgecolors="black", linewidths=0.5, label=f"student ({m})", zorder=3
        )
    else:
        amax = max(float(np.abs(sa).max()), float(np.abs(ta).max()) if ta is not None else 0.0)
        amax = amax if amax > 0 else 1.0
        sizes = 25.0 + 175.0 * np.abs(sa) / amax
        sc = ax.scatter(
            S[:, 0],
            S[:, 1],
            s=sizes,
            c=sa,
            cmap="coolwarm",
            vmin=-amax,
            vmax=amax,
            edgecolors="black",
            linewidths=0.5,
            label=f"student ({m})",
            zorder=3,
        )
        ax.figure.colorbar(sc, ax=ax, label="outgoing weight a")
    if T is not None:
        ax.scatter(
            T[:, 0],
            T[:, 1],
            marker="x",
            s=120,
            color="black",
            linewidths=2.5,
            label=f"teacher ({T.shape[0]})",
            zorder=4,
        )
        if ta is not None:
            for (x, y), a in zip(T, ta, strict=True):
                ax.annotate(f"a={a:+g}", (x, y), xytext=(6, 6), textcoords="offset points", fontsize="small")
    ax.set_aspect("equal", adjustable="datalim")
    ax.margins(0.15)
    ax.legend(fontsize="small", loc="best")
    ax.set_xlabel("$w_1$ (weight on $x_1$)")
    ax.set_ylabel("$w_2$ (weight on $x_2$)")
    r = "" if T is None else f" vs teacher ({T.shape[0]})"
    ax.set_title(title or f"Incoming weights: student ({m}){r}")
    return _finish(fig, path, overwrite)


@_figure_doc
def eps_sweep(
    eps,
    losses=None,
    ax=None,
    path=None,
    baseline: float | None = None,
    title: str | None = None,
    *,
    overwrite: bool = False,
):
    """Loss after perturb-and-refine against the perturbation size (log-log, seed 004).

    Parameters
    ----------
    eps : array_like, shape (k,), or EpsSweep
        Perturbation sizes (> 0). A result of :func:`fastland.critical.eps_sweep`
        supplies ``eps``, ``losses`` and ``baseline`` at once.
    losses : array_like, shape (k, tries) or (k,)
        Loss reached from each try (>= 0; exact zeros are drawn at a floor below
        the smallest positive loss). With several tries per size the plot shows
        every try, the median, the interquartile band and the min-max band.
    {ax_path}
    baseline : float, optional
        Loss at the unperturbed point (dashed line).
    title : str, optional
        Default "Loss vs perturbation size".
    {overwrite_returns}

    Raises
    ------
    ValueError
        If ``eps`` is not positive, ``losses`` has the wrong shape or negative
        values, or anything is not finite.
    """
    if losses is None and hasattr(eps, "eps") and hasattr(eps, "loss"):
        sweep = eps
        eps, losses = sweep.eps, sweep.loss
        if baseline is None:
            baseline = getattr(sweep, "start_loss", None)
    if losses is None:
        raise ValueError("losses: expected an array (k,) or (k, tries), got None")
    e = _vector("eps", eps)
    if e.size == 0 or np.any(e <= 0):
        raise ValueError(f"eps: expected one or more sizes > 0, got {e.tolist()}")
    L = check_finite_array("losses", losses, (1, 2))
    if L.shape[0] != e.size or L.size == 0:
        raise ValueError(f"losses: expected shape ({e.size},) or ({e.size}, tries), got {L.shape}")
    L = L.reshape(e.size, -1)
    L, n_zero, _ = _positive_for_log("losses", L)
    if baseline is not None:
        baseline = check_positive("baseline", baseline, allow_zero=True)
    order = np.argsort(e)
    e, L = e[order], L[order]
    fig, ax = _single(ax, path, (6.0, 4.4))
    tries = L.shape[1]
    if tries == 1:
        ax.plot(e, L[:, 0], "o-", color="C0", label="loss")
    else:
        ax.fill_between(e, L.min(axis=1), L.max(axis=1), color="C0", alpha=0.12, lw=0, label="min–max")
        q1, q3 = np.quantile(L, [0.25, 0.75], axis=1)
        ax.fill_between(e, q1, q3, color="C0", alpha=0.3, lw=0, label="25–75 %")
        ax.scatter(
            np.repeat(e, tries), L.ravel(), s=8, color="0.3", alpha=0.4, linewidths=0, label=f"tries ({tries} per ε)"
        )
        ax.plot(e, np.median(L, axis=1), "o-", color="C0", label="median")
    if baseline is not None and baseline > 0:
        ax.axhline(baseline, color="C3", ls="--", lw=1, label=f"unperturbed ({baseline:.3g})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    if n_zero:
        _note(ax, f"{n_zero} losses of 0 drawn at the bottom", loc="lower right")
    ax.legend(fontsize="small", loc="best")
    ax.set_xlabel("perturbation size ε")
    ax.set_ylabel("loss after refinement")
    ax.set_title(title or "Loss vs perturbation size")
    return _finish(fig, path, overwrite)


# ------------------------------------------------------------------------------ generic
@_figure_doc
def series(
    x,
    ys: Mapping,
    xlabel: str,
    ylabel: str,
    logy: bool = False,
    ax=None,
    path=None,
    title: str | None = None,
    logx: bool = False,
    *,
    pairs: bool = False,
    reference: Mapping | None = None,
    overwrite: bool = False,
):
    """Plot lines, one per labelled series (a generic plot for experiment reports).

    Parameters
    ----------
    x : array_like, shape (n,)
        Finite x values shared by all series.
    ys : dict of str -> array_like, shape (n,)
        The series; NaN values leave gaps.
    xlabel, ylabel : str
        Axis labels.
    logy, logx : bool, default False
        Log-scaled axes (non-positive values are then left out by matplotlib).
    {ax_path}
    title : str, optional
        Default "<ylabel> vs <xlabel>".
    pairs : bool, default False
        The series come in pairs, such as (measured, predicted): each pair gets
        one colour, the first drawn as dots, the second as a dashed line.
    reference : dict of str -> array_like, shape (n,), optional
        Reference lines (a bound, a baseline), drawn grey and dotted.
    {overwrite_returns}

    Raises
    ------
    ValueError
        If ``x`` is not finite and 1-D, ``ys`` is empty, a series has the wrong
        length, a label is not a string, or ``pairs`` is asked for an odd number
        of series.
    """
    xv = _vector("x", x)
    for name, lab in (("xlabel", xlabel), ("ylabel", ylabel)):
        if not isinstance(lab, str):
            raise ValueError(f"{name}: expected a str, got {type(lab).__name__}")
    lines = _series_values("ys", _check_mapping("ys", ys), xv.shape)
    refs = _series_values("reference", _check_mapping("reference", reference), xv.shape) if reference else {}
    if pairs and len(lines) % 2:
        raise ValueError(f"ys: pairs=True expects an even number of series, got {len(lines)}")
    fig, ax = _single(ax, path, (6.0, 4.2))
    style = "o-" if xv.size <= 30 else "-"
    for i, (k, yv) in enumerate(lines.items()):
        if not pairs:
            ax.plot(xv, yv, style, color=f"C{i % 10}", ms=4, label=k)
        elif i % 2:
            ax.plot(xv, yv, "--", color=f"C{i // 2 % 10}", label=k)
        else:
            ax.plot(xv, yv, "o", color=f"C{i // 2 % 10}", ms=5, label=k)
    for k, yv in refs.items():
        ax.plot(xv, yv, ":", color="0.4", label=k)
    if logy:
        ax.set_yscale("log")
    if logx:
        ax.set_xscale("log")
    ax.legend(fontsize="small", loc="best")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title or f"{ylabel} vs {xlabel}")
    return _finish(fig, path, overwrite)


def _series_values(name: str, ys: Mapping, shape: tuple) -> dict[str, np.ndarray]:
    """The series of ``ys`` as float arrays of ``shape`` (NaN allowed: gaps; inf refused)."""
    lines = {}
    for k, y in ys.items():
        try:
            yv = np.asarray(y, dtype=float)
        except (TypeError, ValueError):
            raise ValueError(f"{name}[{k!r}]: expected a numeric array") from None
        if yv.shape != shape:
            raise ValueError(f"{name}[{k!r}]: expected shape {shape} to match x, got {yv.shape}")
        if np.any(np.isinf(yv)):
            raise ValueError(f"{name}[{k!r}]: expected finite values or NaN (gaps), found inf")
        lines[str(k)] = yv
    return lines
