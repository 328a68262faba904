"""PyTorch interop, against torch's own forward pass and autograd gradients (float64)."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import fastland as fl
from fastland import interop

torch = pytest.importorskip("torch")

CASES = [
    ("tanh", "mse", 1, True),
    ("sigmoid", "bce", 1, True),
    ("relu", "softmax_xent", 3, True),
    ("softplus", "mse", 2, False),
    ("linear", "softmax_xent", 2, False),
]


def _torch_loss(out, y, loss):
    if loss == "mse":
        return ((out - y) ** 2).sum(dim=1).mean()  # fastland: sum over outputs, mean over points
    if loss == "bce":
        return torch.nn.functional.binary_cross_entropy_with_logits(out[:, 0], y)
    return torch.nn.functional.cross_entropy(out, y)


@pytest.mark.parametrize("activation, loss, n_out, bias", CASES)
def test_round_trip_forward_and_gradient_match_torch(activation, loss, n_out, bias):
    rng = np.random.default_rng(0)
    net = fl.MLP(3, [5, 4], n_out, activation=activation, loss=loss, bias=bias)
    w = net.init(method="normal", seed=2)
    X = rng.standard_normal((25, 3))
    if loss == "mse":
        y = rng.standard_normal((25, n_out)) if n_out > 1 else rng.standard_normal(25)
    elif loss == "bce":
        y = rng.integers(0, 2, 25).astype(float)
    else:
        y = rng.integers(0, n_out, 25)
    land = fl.Landscape(net, fl.Dataset(X, y))
    seq = interop.to_torch(net, w)
    Xt = torch.tensor(X, dtype=torch.float64)
    out = seq(Xt)
    assert_allclose(out.detach().numpy(), net.predict(w, X), rtol=1e-12, atol=1e-13)
    # the gradient by torch's autograd equals fastland's exact gradient
    yt = torch.tensor(y if loss != "mse" or n_out > 1 else y[:, None])
    _torch_loss(out, yt if loss != "softmax_xent" else yt.long(), loss).backward()
    g_torch = np.concatenate([p.grad.numpy().ravel() for p in seq.parameters()])
    loss_f, g = land.loss_and_grad(w)
    assert_allclose(g_torch, g, rtol=1e-10, atol=1e-13)
    # and back: the same network and the same vector, bit for bit
    net2, w2 = interop.from_torch(seq, loss=loss)
    assert net2 == net
    assert_array_equal(w2, w)
    net3, w3 = interop.from_state_dict(seq.state_dict(), activation=activation, loss=loss)
    assert net3 == net
    assert_array_equal(w3, w)


def test_a_torch_trained_net_gives_fastland_the_same_loss():
    torch.manual_seed(0)
    seq = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()
    X = torch.randn(30, 2, dtype=torch.float64)
    y = (X[:, 0] * X[:, 1] > 0).double()
    opt = torch.optim.SGD(seq.parameters(), lr=0.1)
    for _ in range(20):
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(seq(X)[:, 0], y)
        loss.backward()
        opt.step()
    net, w = interop.from_torch(seq, loss="bce")
    land = fl.Landscape(net, fl.Dataset(X.numpy(), y.numpy()))
    expected = torch.nn.functional.binary_cross_entropy_with_logits(seq(X)[:, 0], y).item()
    assert land.loss(w) == pytest.approx(expected, rel=1e-13)


def test_unsupported_modules_are_refused_by_name():
    nn = torch.nn
    with pytest.raises(ValueError, match="layer 1 .Dropout. is not a supported activation"):
        interop.from_torch(nn.Sequential(nn.Linear(2, 3), nn.Dropout(), nn.Linear(3, 1)))
    with pytest.raises(ValueError, match="one hidden activation"):
        interop.from_torch(nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 1)))
    with pytest.raises(ValueError, match="ending with a Linear"):
        interop.from_torch(nn.Sequential(nn.Linear(2, 3), nn.Tanh()))
    with pytest.raises(ValueError, match="every Linear layer has a bias"):
        interop.from_torch(nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1, bias=False)))
    with pytest.raises(ValueError, match="beta"):
        interop.from_torch(nn.Sequential(nn.Linear(2, 3), nn.Softplus(beta=2.0), nn.Linear(3, 1)))
    with pytest.raises(ValueError, match="Sequential"):
        interop.from_torch(nn.Linear(2, 1))
    with pytest.raises(ValueError, match="quadratic"):
        interop.to_torch(fl.MLP(2, [2], 1, activation="quadratic", loss="mse"), np.zeros(9))
    with pytest.raises(ValueError, match="unexpected key"):
        interop.from_state_dict({"0.weight": np.zeros((2, 2)), "x": np.zeros(2)})
