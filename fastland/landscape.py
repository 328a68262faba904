"""The loss landscape U(w) of a model on a dataset, with exact derivatives."""

from __future__ import annotations

import numba
import numpy as np

from ._kernels import mlp as _mlp
from ._validate import as_dtype, check_params, check_positive
from .data import Dataset
from .model import MLP

__all__ = ["Landscape", "targets_for"]

_SERIAL_MAX_POINTS = 2048


def targets_for(net: MLP, data: Dataset) -> np.ndarray:
    """The (N, n_out) float64 target matrix the kernels use for ``data`` under ``net``'s loss.

    Softmax cross-entropy takes integer labels 0..n_out-1 (one-hot encoded) or
    rows of class probabilities; binary cross-entropy takes values in [0, 1];
    the squared error takes (N,) targets for one output or (N, n_out).
    """
    y = data.y
    if data.dim != net.n_in:
        raise ValueError(f"data: expected {net.n_in} input features for {net!r}, got {data.dim}")
    N = data.n
    if net.loss == "softmax_xent":
        if y.ndim == 1 or y.shape[1] == 1:
            labels = y.ravel()
            if np.any(labels != np.round(labels)) or labels.min() < 0 or labels.max() >= net.n_out:
                raise ValueError(
                    f"y: expected integer class labels in 0..{net.n_out - 1} for softmax_xent, "
                    f"got values in [{labels.min()}, {labels.max()}]"
                )
            T = np.zeros((N, net.n_out))
            T[np.arange(N), labels.astype(np.int64)] = 1.0
            return T
        if y.shape[1] != net.n_out or np.any(y < 0) or not np.allclose(y.sum(axis=1), 1.0):
            raise ValueError(
                f"y: expected (N,) labels or (N, {net.n_out}) rows of probabilities summing to 1, got shape {y.shape}"
            )
        return np.ascontiguousarray(y, dtype=float)
    if net.loss == "bce":
        if not (y.ndim == 1 or y.shape[1] == 1) or np.any(y < 0) or np.any(y > 1):
            raise ValueError("y: expected one label per point in [0, 1] for bce")
        return np.ascontiguousarray(y.reshape(N, 1), dtype=float)
    # mse
    if y.ndim == 1:
        if net.n_out != 1:
            raise ValueError(f"y: expected shape ({N}, {net.n_out}) for {net.n_out} outputs, got {y.shape}")
        return np.ascontiguousarray(y.reshape(N, 1), dtype=float)
    if y.shape[1] != net.n_out:
        raise ValueError(f"y: expected shape ({N}, {net.n_out}) for {net.n_out} outputs, got {y.shape}")
    return np.ascontiguousarray(y, dtype=float)


class Landscape:
    """U(w) = mean loss of ``net`` on ``data`` + (weight_decay / 2) ||w||^2.

    Every method takes one parameter vector ``(p,)`` or a batch ``(B, p)`` and
    returns the matching shape; batches run in parallel in one compiled kernel.

    Parameters
    ----------
    net : MLP
    data : Dataset
    weight_decay : float, default 0.0
        L2 coefficient lambda >= 0; adds (lambda / 2) ||w||^2.
    dtype : {"float64", "float32"}, default "float64"
        Storage type of the data and of the parameter vectors passed to the
        kernels; sums are accumulated in float64 in both cases. Results are
        returned as float64.

    Examples
    --------
    >>> import fastland as fl
    >>> land = fl.Landscape(fl.MLP(2, [2, 2], 2), fl.datasets.random_labels(n=10, seed=0))
    >>> land.hessian(land.net.init(seed=1)).shape
    (18, 18)
    """

    def __init__(self, net: MLP, data: Dataset, weight_decay: float = 0.0, dtype="float64") -> None:
        if not isinstance(net, MLP):
            raise ValueError(f"net: expected a fastland.MLP, got {type(net).__name__}")
        if not isinstance(data, Dataset):
            raise ValueError(f"data: expected a fastland.Dataset, got {type(data).__name__}")
        self.net = net
        self.data = data
        self.weight_decay = check_positive("weight_decay", weight_decay, allow_zero=True)
        self.dtype = as_dtype(dtype)
        self._arch = net._arch()
        # fresh writable C arrays whatever the loss and dtype: one Numba signature per kernel
        self._X = np.array(data.X, dtype=self.dtype, order="C")
        self._T = np.array(targets_for(net, data), dtype=self.dtype, order="C")

    @property
    def n_params(self) -> int:
        """Dimension p of the parameter space."""
        return self.net.n_params

    def __repr__(self) -> str:
        return f"Landscape({self.net!r}, {self.data!r}, weight_decay={self.weight_decay}, dtype={self.dtype.name!r})"

    # ------------------------------------------------------------------ helpers
    def _batch(self, w, name: str = "w") -> tuple[np.ndarray, bool]:
        W = check_params(name, w, self.n_params, self.dtype)
        return np.atleast_2d(W), W.ndim == 1

    def _serial(self, batch_size: int) -> bool:
        # one vector on little data: a serial call beats waking the thread pool
        # (results are bit-identical either way: data chunks are summed in one order)
        return batch_size == 1 and self._X.shape[0] <= _SERIAL_MAX_POINTS

    @staticmethod
    def _split(batch_size: int) -> bool:
        # split each vector's data chunks across threads only when the batch alone
        # cannot keep the threads busy; the result is bit-identical either way
        return batch_size < numba.get_num_threads()

    # ------------------------------------------------------------------ values
    def loss(self, w) -> np.ndarray | float:
        """U(w): float for (p,), array (B,) for (B, p)."""
        W, single = self._batch(w)
        if self._serial(W.shape[0]):
            work = _mlp.new_work(self._arch, _mlp.block_points(self._X.shape[0]))
            value = _mlp.loss_value(self._arch, W[0], self._X, self._T, self.weight_decay, work)
            return value if single else np.array([value])
        out = np.empty(W.shape[0])
        _mlp.loss_batch(self._arch, W, self._X, self._T, self.weight_decay, out)
        return float(out[0]) if single else out

    def loss_and_grad(self, w) -> tuple:
        """(U(w), grad U(w)) with shapes () and (p,), or (B,) and (B, p)."""
        W, single = self._batch(w)
        losses = np.empty(W.shape[0])
        grads = np.empty(W.shape)
        if self._serial(W.shape[0]):
            losses[0] = _mlp.loss_grad_one(self._arch, W[0], self._X, self._T, self.weight_decay, grads[0])
        else:
            _mlp.loss_grad_batch(self._arch, W, self._X, self._T, self.weight_decay, losses, grads)
        return (float(losses[0]), grads[0]) if single else (losses, grads)

    def grad(self, w) -> np.ndarray:
        """Exact gradient: (p,) or (B, p)."""
        return self.loss_and_grad(w)[1]

    def hessian(self, w) -> np.ndarray:
        """Exact Hessian: (p, p) or (B, p, p)."""
        W, single = self._batch(w)
        p = self.n_params
        out = np.empty((W.shape[0], p, p))
        if self._serial(W.shape[0]):
            _mlp.hessian_one(self._arch, W[0], self._X, self._T, self.weight_decay, out[0])
        else:
            _mlp.hessian_batch(self._arch, W, self._X, self._T, self.weight_decay, self._split(W.shape[0]), out)
        return out[0] if single else out

    def hvp(self, w, v) -> np.ndarray:
        """Exact Hessian-vector product H(w) v, without forming H.

        ``v`` has the shape of ``w``: (p,) or (B, p).
        """
        W, single = self._batch(w)
        V, _ = self._batch(v, "v")
        if V.shape != W.shape:
            raise ValueError(f"v: expected the shape of w {W.shape if not single else W.shape[1:]}, got {np.shape(v)}")
        out = np.empty(W.shape, dtype=np.float64)
        if self._serial(W.shape[0]):
            _mlp.hvp_one(self._arch, W[0], V[0], self._X, self._T, self.weight_decay, out[0])
        else:
            _mlp.hvp_batch(self._arch, W, V, self._X, self._T, self.weight_decay, out)
        return out[0] if single else out

    def gauss_newton(self, w) -> np.ndarray:
        """Gauss-Newton matrix mean_i J_i^T H_loss,i J_i + lambda I: (p, p) or (B, p, p).

        J_i is the Jacobian of point i's outputs in the parameters and H_loss,i
        the Hessian of its loss in the outputs. It equals the Hessian wherever
        the residuals (mse) vanish.
        """
        W, single = self._batch(w)
        p = self.n_params
        out = np.empty((W.shape[0], p, p))
        if self._serial(W.shape[0]):
            _mlp.gauss_newton_one(self._arch, W[0], self._X, self._T, self.weight_decay, out[0])
        else:
            _mlp.gauss_newton_batch(self._arch, W, self._X, self._T, self.weight_decay, self._split(W.shape[0]), out)
        return out[0] if single else out

    def predict(self, w) -> np.ndarray:
        """Network outputs on this landscape's inputs: (N, n_out) or (B, N, n_out)."""
        return self.net.predict(w, self.data.X)
