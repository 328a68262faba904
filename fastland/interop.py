"""PyTorch interop: an :class:`~fastland.MLP` and its flat parameters from a ``torch.nn.Sequential``, and back.

fastland's flat layout is PyTorch's: layer by layer, the weight ``W`` (out x in,
row-major, as ``nn.Linear.weight``) and then the bias ``b`` (as ``nn.Linear.bias``).
So a ``Sequential`` of ``Linear`` layers with one kind of activation between them maps
onto an ``MLP`` exactly, and :func:`from_torch` / :func:`to_torch` are inverse to each
other. torch is not a dependency of fastland: it is imported only when these functions
run.

Supported activation layers: ``nn.Tanh``, ``nn.Sigmoid``, ``nn.ReLU`` and ``nn.Softplus``
with its defaults (beta 1; PyTorch switches to the identity above its ``threshold`` of 20,
where the two differ by less than 2e-9); ``nn.Identity`` between layers gives "linear".
fastland's "quadratic" activation has no PyTorch layer. The loss is not part of a
``Sequential``: pass it (``"mse"``, ``"bce"`` as ``BCEWithLogitsLoss``, ``"softmax_xent"``
as ``CrossEntropyLoss`` on the logits).

Examples
--------
>>> import torch                                                     # doctest: +SKIP
>>> seq = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))  # doctest: +SKIP
>>> net, w = fl.interop.from_torch(seq, loss="bce")                 # doctest: +SKIP
>>> net                                                              # doctest: +SKIP
MLP(2, [16], 1, activation='tanh', loss='bce', bias=True)
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ._validate import check_params
from .model import MLP

__all__ = ["from_state_dict", "from_torch", "state_dict", "to_torch"]

# torch layer class name -> fastland activation (class names: no torch import needed to map)
_ACTIVATIONS = {"Tanh": "tanh", "Sigmoid": "sigmoid", "ReLU": "relu", "Softplus": "softplus", "Identity": "linear"}
_LAYERS = {"tanh": "Tanh", "sigmoid": "Sigmoid", "relu": "ReLU", "softplus": "Softplus", "linear": "Identity"}


def _torch():
    try:
        import torch
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("fastland.interop needs PyTorch: pip install torch") from None
    return torch


def from_torch(module, *, loss: str = "mse") -> tuple[MLP, np.ndarray]:
    """The :class:`~fastland.MLP` and flat float64 parameters of a ``torch.nn.Sequential``.

    Parameters
    ----------
    module : torch.nn.Sequential
        ``Linear`` layers with one activation layer of the same kind between each
        pair of them (see the module notes), no activation after the last one. All
        ``Linear`` layers have biases, or none has.
    loss : {"mse", "bce", "softmax_xent"}, default "mse"
        The loss the network is trained with (not part of the module).

    Returns
    -------
    (MLP, ndarray)
        The network and its parameters, shape ``(net.n_params,)``; ``net.predict(w, X)``
        equals ``module(X)``.

    Raises
    ------
    ValueError
        Naming the layer that fastland cannot represent.
    """
    torch = _torch()
    if not isinstance(module, torch.nn.Sequential):
        raise ValueError(f"module: expected a torch.nn.Sequential, got {type(module).__name__}")
    layers = list(module)
    linears, acts = [], []
    for i, layer in enumerate(layers):
        name = type(layer).__name__
        expect_linear = i % 2 == 0
        if expect_linear and not isinstance(layer, torch.nn.Linear):
            raise ValueError(f"module: layer {i} ({name}) should be a Linear layer (Linear and activations alternate)")
        if not expect_linear:
            if name not in _ACTIVATIONS:
                raise ValueError(
                    f"module: layer {i} ({name}) is not a supported activation; expected one of {sorted(_ACTIVATIONS)}"
                )
            if name == "Softplus" and (layer.beta != 1.0):
                raise ValueError(f"module: layer {i} is Softplus(beta={layer.beta}); fastland's softplus has beta 1")
            acts.append(_ACTIVATIONS[name])
        else:
            linears.append(layer)
    if not linears or len(layers) % 2 == 0:
        raise ValueError("module: expected Linear layers with activations between them, ending with a Linear layer")
    if len(set(acts)) > 1:
        raise ValueError(f"module: fastland's MLP has one hidden activation, got {acts}")
    biased = {lin.bias is not None for lin in linears}
    if len(biased) > 1:
        raise ValueError("module: either every Linear layer has a bias or none has")
    for k in range(1, len(linears)):
        if linears[k].in_features != linears[k - 1].out_features:
            raise ValueError(f"module: Linear layer {2 * k} takes {linears[k].in_features} inputs, the previous gives "
                             f"{linears[k - 1].out_features}")  # fmt: skip
    net = MLP(
        linears[0].in_features,
        [lin.out_features for lin in linears[:-1]],
        linears[-1].out_features,
        activation=acts[0] if acts else "tanh",
        loss=loss,
        bias=biased.pop(),
    )
    parts = []
    for lin in linears:
        parts.append(
            (
                lin.weight.detach().cpu().double().numpy(),
                None if lin.bias is None else lin.bias.detach().cpu().double().numpy(),
            )
        )
    return net, net.flatten(parts)


def from_state_dict(state, *, activation: str = "tanh", loss: str = "mse") -> tuple[MLP, np.ndarray]:
    """The :class:`~fastland.MLP` and flat parameters of a ``Sequential``'s ``state_dict``.

    Parameters
    ----------
    state : Mapping
        ``"{i}.weight"`` (out x in) and, for all layers or none, ``"{i}.bias"`` entries
        of the ``Linear`` layers (tensors or arrays), as ``Sequential.state_dict()``
        gives them; other keys are an error.
    activation : str, default "tanh"
        The hidden activation (a ``state_dict`` does not record it).
    loss : {"mse", "bce", "softmax_xent"}, default "mse"

    Returns
    -------
    (MLP, ndarray)
    """
    layers: dict[int, dict] = {}
    for key, value in state.items():
        idx, _, kind = str(key).partition(".")
        if not idx.isdigit() or kind not in ("weight", "bias"):
            raise ValueError(f"state: unexpected key {key!r}; expected '<index>.weight' / '<index>.bias'")
        arr = value.detach().cpu().double().numpy() if hasattr(value, "detach") else np.asarray(value, dtype=float)
        layers.setdefault(int(idx), {})[kind] = arr
    if not layers:
        raise ValueError("state: no layers")
    order = sorted(layers)
    if any("weight" not in layers[i] or layers[i]["weight"].ndim != 2 for i in order):
        raise ValueError("state: every layer needs a 2-d '<index>.weight'")
    has_bias = {"bias" in layers[i] for i in order}
    if len(has_bias) > 1:
        raise ValueError("state: either every layer has a bias or none has")
    Ws = [layers[i]["weight"] for i in order]
    for k in range(1, len(Ws)):
        if Ws[k].shape[1] != Ws[k - 1].shape[0]:
            raise ValueError(
                f"state: layer {order[k]} takes {Ws[k].shape[1]} inputs, the previous gives {Ws[k - 1].shape[0]}"
            )
    net = MLP(Ws[0].shape[1], [W.shape[0] for W in Ws[:-1]], Ws[-1].shape[0], activation=activation, loss=loss,
              bias=has_bias.pop())  # fmt: skip
    return net, net.flatten([(layers[i]["weight"], layers[i].get("bias")) for i in order])


def to_torch(net: MLP, w):
    """A ``torch.nn.Sequential`` (float64) computing ``net.predict(w, X)``.

    Parameters
    ----------
    net : MLP
        Any activation but "quadratic".
    w : array_like, shape (p,)

    Returns
    -------
    torch.nn.Sequential
        ``Linear`` layers with the activation between them; the parameters are copies.
    """
    torch = _torch()
    if not isinstance(net, MLP):
        raise ValueError(f"net: expected a fastland.MLP, got {type(net).__name__}")
    if net.activation not in _LAYERS:
        raise ValueError(f"net: activation {net.activation!r} has no PyTorch layer")
    sizes = [net.n_in, *net.hidden, net.n_out]
    mods = []
    for k in range(len(sizes) - 1):
        if k:
            mods.append(getattr(torch.nn, _LAYERS[net.activation])())
        mods.append(torch.nn.Linear(sizes[k], sizes[k + 1], bias=net.bias, dtype=torch.float64))
    seq = torch.nn.Sequential(*mods)
    seq.load_state_dict(state_dict(net, w))
    return seq


def state_dict(net: MLP, w) -> OrderedDict:
    """The parameters ``w`` as the ``state_dict`` of :func:`to_torch`'s ``Sequential`` (float64 tensors).

    Keys are ``"{i}.weight"`` and ``"{i}.bias"`` for the i-th module of the Sequential
    (Linear layers at even positions).
    """
    torch = _torch()
    w = check_params("w", w, net.n_params)
    if w.ndim != 1:
        raise ValueError(f"w: expected one parameter vector of shape ({net.n_params},), got {w.shape}")
    out = OrderedDict()
    for k, (W, b) in enumerate(net.unflatten(w)):
        out[f"{2 * k}.weight"] = torch.tensor(np.array(W), dtype=torch.float64)
        if b is not None:
            out[f"{2 * k}.bias"] = torch.tensor(np.array(b), dtype=torch.float64)
    return out
