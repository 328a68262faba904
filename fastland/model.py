"""Multi-layer perceptrons described by their widths, flattened to one vector."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

from . import _activations as _act
from ._kernels import mlp as _mlp
from ._validate import check_choice, check_finite_array, check_int, check_params, check_positive

__all__ = ["ACTIVATIONS", "LOSSES", "MLP"]

ACTIVATIONS = _act.CODES  # name -> kernel code (facts about each: fastland._activations)
LOSSES = {"mse": _mlp.LOSS_MSE, "bce": _mlp.LOSS_BCE, "softmax_xent": _mlp.LOSS_SOFTMAX_XENT}
_INITS = ("uniform", "normal", "glorot")


class MLP:
    """A fully connected network with one flat parameter vector.

    Parameters
    ----------
    n_in : int
        Number of inputs (>= 1).
    hidden : sequence of int
        Widths of the hidden layers, e.g. ``[2, 3, 4]``; may be empty.
    n_out : int
        Number of outputs (>= 1). "bce" needs 1 output, "softmax_xent" at least 2.
    activation : str, default "tanh"
        Hidden-layer activation: "tanh", "sigmoid" (logistic), "relu",
        "softplus", "linear" or "quadratic" (z -> z**2).
    loss : str, default "softmax_xent"
        "softmax_xent" (softmax cross-entropy), "bce" (binary cross-entropy of
        one sigmoid output) or "mse" (squared error summed over outputs).
        Losses are means over data points.
    bias : bool, default True
        Whether every layer has a bias vector.

    Notes
    -----
    The flat parameter order is layer by layer: ``W`` (out x in, row-major),
    then ``b`` (out) if biased. The output layer is affine; the loss applies
    the softmax or sigmoid.

    Examples
    --------
    >>> import fastland as fl
    >>> fl.MLP(2, [2, 2], 2).n_params
    18
    """

    def __init__(
        self,
        n_in: int,
        hidden: Sequence[int],
        n_out: int,
        activation: str = "tanh",
        loss: str = "softmax_xent",
        bias: bool = True,
    ) -> None:
        n_in = check_int("n_in", n_in, 1)
        n_out = check_int("n_out", n_out, 1)
        if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence | np.ndarray):
            raise ValueError(f"hidden: expected a list of layer widths such as [2, 3], got {hidden!r}")
        hidden = [check_int(f"hidden[{i}]", h, 1) for i, h in enumerate(hidden)]
        check_choice("activation", activation, tuple(ACTIVATIONS))
        check_choice("loss", loss, tuple(LOSSES))
        if not isinstance(bias, (bool, np.bool_)):
            raise ValueError(f"bias: expected True or False, got {bias!r}")
        if loss == "bce" and n_out != 1:
            raise ValueError(f"n_out: loss 'bce' expects 1 output, got {n_out}")
        if loss == "softmax_xent" and n_out < 2:
            raise ValueError(f"n_out: loss 'softmax_xent' expects at least 2 outputs, got {n_out}")
        self.n_in = n_in
        self.hidden = tuple(hidden)
        self.n_out = n_out
        self.activation = activation
        self.loss = loss
        self.bias = bool(bias)
        self._arch_array = self._build_arch()

    # ------------------------------------------------------------------ structure
    @property
    def widths(self) -> tuple[int, ...]:
        """All layer widths: inputs, hidden layers, outputs."""
        return (self.n_in, *self.hidden, self.n_out)

    @property
    def layer_shapes(self) -> list[tuple[tuple[int, int], tuple[int, ...] | None]]:
        """Per weight layer, the shape of W and of b (None without biases)."""
        w = self.widths
        return [((w[k + 1], w[k]), (w[k + 1],) if self.bias else None) for k in range(len(w) - 1)]

    @property
    def n_params(self) -> int:
        """Length of the flat parameter vector."""
        return int(sum(o * i + (o if self.bias else 0) for (o, i), _ in self.layer_shapes))

    def _build_arch(self) -> np.ndarray:
        widths = self.widths
        nl = len(widths) - 1
        w_off, b_off, pos = [], [], 0
        for k in range(nl):
            w_off.append(pos)
            pos += widths[k + 1] * widths[k]
            if self.bias:
                b_off.append(pos)
                pos += widths[k + 1]
            else:
                b_off.append(-1)
        header = [nl, ACTIVATIONS[self.activation], LOSSES[self.loss], int(self.bias)]
        return np.array(header + list(widths) + w_off + b_off, dtype=np.int64)

    def _arch(self) -> np.ndarray:
        """The int64 layout array the kernels read (see fastland._kernels.mlp)."""
        return self._arch_array

    # ------------------------------------------------------------- flat <-> layers
    def unflatten(self, w) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """Split a flat vector (p,) or batch (..., p) into per-layer ``(W, b)`` views.

        Returns a list with one ``(W, b)`` pair per weight layer; ``W`` has shape
        ``(..., out, in)`` and ``b`` shape ``(..., out)`` (None without biases).
        The arrays are views: writing to them writes to ``w``.
        """
        w = np.asarray(w)
        if w.ndim < 1 or w.shape[-1] != self.n_params:
            raise ValueError(f"w: expected last dimension {self.n_params}, got shape {w.shape}")
        lead = w.shape[:-1]
        out, pos = [], 0
        for (o, i), bshape in self.layer_shapes:
            W = w[..., pos : pos + o * i].reshape(*lead, o, i)
            pos += o * i
            b = None
            if bshape is not None:
                b = w[..., pos : pos + o]
                pos += o
            out.append((W, b))
        return out

    def flatten(self, layers: Sequence[tuple[np.ndarray, np.ndarray | None]]) -> np.ndarray:
        """Join per-layer ``(W, b)`` pairs (as from :meth:`unflatten`) into one vector."""
        shapes = self.layer_shapes
        if len(layers) != len(shapes):
            raise ValueError(f"layers: expected {len(shapes)} (W, b) pairs, got {len(layers)}")
        parts = []
        for k, ((W, b), (wshape, bshape)) in enumerate(zip(layers, shapes, strict=True)):
            W = np.asarray(W, dtype=float)
            if W.shape != wshape:
                raise ValueError(f"layers[{k}][0]: expected W of shape {wshape}, got {W.shape}")
            parts.append(W.ravel())
            if bshape is not None:
                if b is None or np.shape(b) != bshape:
                    raise ValueError(f"layers[{k}][1]: expected b of shape {bshape}, got {np.shape(b)}")
                parts.append(np.asarray(b, dtype=float).ravel())
            elif b is not None:
                raise ValueError(f"layers[{k}][1]: expected None for a model without biases")
        return np.concatenate(parts)

    # ---------------------------------------------------------------- initialising
    def init(self, n: int | None = None, method: str = "glorot", scale: float = 1.0, seed: int = 0) -> np.ndarray:
        """Random parameter vectors.

        Parameters
        ----------
        n : int, optional
            Number of vectors; returns shape (n, p), or (p,) when omitted.
        method : {"glorot", "uniform", "normal"}
            "uniform": every parameter uniform in [-scale, scale]; "normal":
            normal with standard deviation ``scale``; "glorot": weights uniform
            in +-scale*sqrt(6 / (fan_in + fan_out)), biases 0.
        scale : float, default 1.0
            Box half-width, standard deviation or Glorot gain.
        seed : int, default 0
            Seed of a NumPy ``default_rng``.
        """
        check_choice("method", method, _INITS)
        scale = check_positive("scale", scale)
        count = 1 if n is None else check_int("n", n, 1)
        rng = np.random.default_rng(seed)
        p = self.n_params
        if method == "uniform":
            out = rng.uniform(-scale, scale, size=(count, p))
        elif method == "normal":
            out = rng.normal(0.0, scale, size=(count, p))
        else:
            out = np.zeros((count, p))
            for (W, _b), ((o, i), _) in zip(self.unflatten(out), self.layer_shapes, strict=True):
                lim = scale * np.sqrt(6.0 / (i + o))
                W[...] = rng.uniform(-lim, lim, size=W.shape)
        return out[0] if n is None else out

    # -------------------------------------------------------------------- forward
    def predict(self, w, X) -> np.ndarray:
        """Network outputs (before softmax/sigmoid) for parameters w on inputs X.

        Parameters
        ----------
        w : array_like, shape (p,) or (B, p)
        X : array_like, shape (N, n_in)

        Returns
        -------
        ndarray, shape (N, n_out) or (B, N, n_out)
        """
        W = check_params("w", w, self.n_params)
        X = check_finite_array("X", X, 2)
        if X.shape[1] != self.n_in:
            raise ValueError(f"X: expected {self.n_in} columns (n_in), got shape {X.shape}")
        batch = np.atleast_2d(W)
        out = np.empty((batch.shape[0], X.shape[0], self.n_out))
        _mlp.forward_batch(self._arch_array, batch, X, out)
        return out if W.ndim == 2 else out[0]

    # --------------------------------------------------------------- persistence
    def spec(self) -> dict:
        """A JSON-able description from which :meth:`from_spec` rebuilds the model."""
        return {
            "n_in": self.n_in,
            "hidden": list(self.hidden),
            "n_out": self.n_out,
            "activation": self.activation,
            "loss": self.loss,
            "bias": self.bias,
        }

    @classmethod
    def from_spec(cls, spec: dict | str) -> MLP:
        """Rebuild a model from :meth:`spec` output (a dict or its JSON string)."""
        if isinstance(spec, str):
            try:
                spec = json.loads(spec)
            except ValueError as exc:
                raise ValueError(f"spec: expected a JSON object, got {spec!r:.80}") from exc
        if not isinstance(spec, dict):
            raise ValueError(f"spec: expected a dict or JSON string, got {type(spec).__name__}")
        keys = ("n_in", "hidden", "n_out", "activation", "loss", "bias")
        unknown = sorted(set(spec) - set(keys))
        missing = [k for k in ("n_in", "hidden", "n_out") if k not in spec]
        if unknown or missing:
            raise ValueError(f"spec: expected keys among {keys}, missing {missing}, unknown {unknown}")
        return cls(**spec)

    def __eq__(self, other) -> bool:
        return isinstance(other, MLP) and self.spec() == other.spec()

    def __hash__(self) -> int:
        return hash(json.dumps(self.spec(), sort_keys=True))

    def __repr__(self) -> str:
        return (
            f"MLP({self.n_in}, {list(self.hidden)}, {self.n_out}, activation={self.activation!r}, "
            f"loss={self.loss!r}, bias={self.bias})"
        )
