"""fastland.plot: every figure renders to a real PNG, reads lazily, validates, leaks nothing."""

import re
import sys
from types import SimpleNamespace

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import fastland as fl  # noqa: E402
from fastland import plot  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CLASSES = ("strict_saddle", "local_min", "global_min", "degenerate", "not_critical")


# ------------------------------------------------------------------------------ helpers
def check_png(path):
    raw = path.read_bytes()
    assert raw[:8] == PNG_SIGNATURE
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[0] > 50 and img.shape[1] > 50
    assert float(np.var(img)) > 0  # not blank


def check_labels(fig):
    """Every data Axes has a title (or the figure a suptitle) and axis labels."""
    axes = [a for a in fig.axes if a.get_label() != "<colorbar>"]
    assert axes
    has_suptitle = fig._suptitle is not None and fig._suptitle.get_text()
    for a in axes:
        assert a.get_title() or a.get_title(loc="left") or has_suptitle
        assert a.get_ylabel()
    assert any(a.get_xlabel() for a in axes)


@pytest.fixture(scope="module")
def data(seed001_data):
    """Seed 001's data (tests/conftest.py)."""
    return seed001_data


@pytest.fixture(scope="module")
def land(seed001):
    """Seed 001's landscape on ``data`` (tests/conftest.py)."""
    return seed001


@pytest.fixture(scope="module")
def run(land):
    return fl.sample(land, chains=4, draws=200, progress=False)


@pytest.fixture(scope="module")
def h5run(land, tmp_path_factory):
    path = tmp_path_factory.mktemp("plot") / "run.h5"
    fl.sample(land, chains=3, draws=150, progress=False, path=path, seed=1).close()
    r = fl.open_run(path)
    yield r
    r.close()


def minima(seed, n=120):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 2)) * [2.0, 0.5], rng.uniform(0.0, 0.1, n), [0.7, 0.2], 2 / 18


def critical_points(n=200, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.choice(CLASSES, n)
    loss = 10.0 ** rng.uniform(-9, -2, n)
    eig = rng.normal(size=n) * 10.0 ** rng.uniform(-8, -3, n)
    return eig, loss, labels


TEACHER_W = np.array([[0.6, 0.5], [-0.5, 0.5], [-0.2, -0.6], [0.1, -0.6]]) * 4
STUDENT_W = np.vstack([TEACHER_W, -TEACHER_W[:1]]) + 0.05


def cases(data, run):
    eig, loss, labels = critical_points()
    eps = np.geomspace(1e-4, 1.0, 8)
    sweep = 1e-7 + eps[:, None] ** 2 * np.random.default_rng(0).uniform(0.5, 2.0, (8, 5))
    ts = fl.datasets.teacher_student(spacing=1.0)
    return {
        "dataset": lambda p: plot.dataset(data, path=p),
        "dataset_real_targets": lambda p: plot.dataset(ts.data, title="teacher grid", path=p),
        "datasets_by_angle": lambda p: plot.datasets_by_angle({a: data.rotate(a) for a in (0, 120, 240)}, path=p),
        "minima_map": lambda p: plot.minima_map(*minima(0)[:2], explained=0.9, null=0.11, path=p),
        "minima_map_plain": lambda p: plot.minima_map(minima(0)[0], path=p),
        "minima_maps_by_angle": lambda p: plot.minima_maps_by_angle({a: minima(a) for a in (0, 120, 240)}, path=p),
        "loss_histogram": lambda p: plot.loss_histogram(run.loss, threshold=1.0, path=p),
        "loss_histogram_linear": lambda p: plot.loss_histogram(np.asarray(run.loss), log=False, path=p),
        "trace": lambda p: plot.trace(run, path=p),
        "diagnostics": lambda p: plot.diagnostics(run, path=p),
        "eigenvalue_vs_loss": lambda p: plot.eigenvalue_vs_loss(eig, loss, labels, path=p),
        "class_counts": lambda p: plot.class_counts(
            {5: {"strict_saddle": 347, "local_min": 100, "global_min": 553}, 4: {"global_min": 1000}}, path=p
        ),
        "neurons": lambda p: plot.neurons(
            STUDENT_W, TEACHER_W, np.array([1, -1, 1, -1, 0.3]), np.array([1.0, -1, 1, -1]), mirror=True, path=p
        ),
        "neurons_student_only": lambda p: plot.neurons(STUDENT_W, path=p),
        "eps_sweep": lambda p: plot.eps_sweep(eps, sweep, baseline=1e-7, path=p),
        "eps_sweep_1d": lambda p: plot.eps_sweep(eps, sweep[:, 0], path=p),
        "series": lambda p: plot.series(
            np.arange(8), {"a": np.arange(8.0) ** 2 + 1, "b": np.arange(8.0) + 1}, "step", "loss", logy=True, path=p
        ),
    }


CASE_NAMES = list(cases(None, None))


# ------------------------------------------------------------------------------ PNGs
@pytest.mark.parametrize("name", CASE_NAMES)
def test_writes_png_and_leaks_no_figure(name, data, run, tmp_path):
    before = plt.get_fignums()
    path = tmp_path / f"{name}.png"
    fig = cases(data, run)[name](path)
    assert isinstance(fig, Figure)
    check_png(path)
    check_labels(fig)
    assert plt.get_fignums() == before


def test_png_without_suffix_and_pathlike(data, tmp_path):
    path = tmp_path / "noext"
    plot.dataset(data, path=str(path))
    check_png(path)


def test_draws_into_given_axes_and_figure(data, tmp_path):
    fig = Figure()
    ax = fig.add_subplot()
    out = plot.dataset(data, ax=ax, path=tmp_path / "ax.png")
    assert out is fig and len(ax.collections) == 2  # one scatter per class
    check_png(tmp_path / "ax.png")

    fig2 = Figure(figsize=(9, 3))
    out2 = plot.minima_maps_by_angle({0: minima(0), 120: minima(1)}, fig=fig2)
    assert out2 is fig2 and len([a for a in fig2.axes if a.get_label() != "<colorbar>"]) == 2

    sub = Figure().subfigures(1, 2)[1]
    out3 = plot.datasets_by_angle({0: data, 90: data.rotate(90)}, fig=sub)
    assert out3 is sub.figure


def test_without_path_uses_pyplot(data):
    before = set(plt.get_fignums())
    fig = plot.dataset(data)
    new = set(plt.get_fignums()) - before
    assert len(new) == 1 and plt.figure(new.pop()) is fig
    plt.close(fig)


def test_shared_colour_scale(tmp_path):
    maps = {0: minima(0), 1: (minima(1)[0], minima(1)[1] + 5.0)}
    fig = plot.minima_maps_by_angle(maps)
    try:
        lims = {c.get_clim() for a in fig.axes if a.get_label() != "<colorbar>" for c in a.collections}
        assert len(lims) == 1
        lo, hi = lims.pop()
        assert lo < 0.1 and hi > 5.0
    finally:
        plt.close(fig)


def test_empty_minima_map(tmp_path):
    fig = plot.minima_map(np.zeros((0, 2)), np.zeros(0), path=tmp_path / "empty.png")
    assert any("no points" in t.get_text() for t in fig.axes[0].texts)
    check_png(tmp_path / "empty.png")


# ------------------------------------------------------------------------------ trace
def test_trace_reads_the_right_chains(run):
    fig = plot.trace(run, params=(0, 5), chains=[3, 1])
    try:
        axes = fig.axes
        assert len(axes) == 3  # two parameters and the loss
        draws, loss = np.asarray(run.draws), np.asarray(run.loss)
        for i, c in enumerate((3, 1)):
            np.testing.assert_array_equal(axes[0].lines[i].get_ydata(), draws[c, :, 0])
            np.testing.assert_array_equal(axes[1].lines[i].get_ydata(), draws[c, :, 5])
            np.testing.assert_array_equal(axes[2].lines[i].get_ydata(), loss[c])
            assert axes[0].lines[i].get_label() == f"chain {c}"
    finally:
        plt.close(fig)
    fig = plot.trace(run, params=-1, chains=10)  # more chains than the run has: all of them
    try:
        assert [len(a.lines) for a in fig.axes] == [4, 4]
        np.testing.assert_array_equal(fig.axes[0].lines[2].get_ydata(), np.asarray(run.draws)[2, :, 17])
    finally:
        plt.close(fig)


def test_trace_on_a_run_file(h5run, tmp_path):
    fig = plot.trace(h5run, params=2, chains=2, path=tmp_path / "trace.png")
    check_png(tmp_path / "trace.png")
    np.testing.assert_array_equal(fig.axes[0].lines[1].get_ydata(), h5run.draws[1, :, 2])
    np.testing.assert_array_equal(fig.axes[1].lines[0].get_ydata(), h5run.loss[0])
    fig = plot.trace(h5run, params=(4, 0), chains=[2, 0], path=tmp_path / "trace2.png")
    np.testing.assert_array_equal(fig.axes[0].lines[0].get_ydata(), h5run.draws[2, :, 4])
    np.testing.assert_array_equal(fig.axes[1].lines[1].get_ydata(), h5run.draws[0, :, 0])
    np.testing.assert_array_equal(fig.axes[2].lines[0].get_ydata(), h5run.loss[2])


class Spy:
    """A lazily indexable array that records every index and refuses full reads."""

    def __init__(self, a):
        self.a, self.keys = a, []
        self.shape, self.ndim, self.dtype = a.shape, a.ndim, a.dtype

    def __getitem__(self, key):
        self.keys.append(key)
        return self.a[key]

    def __array__(self, dtype=None, copy=None):
        raise AssertionError("the whole array was read")


def test_trace_reads_only_what_is_plotted():
    rng = np.random.default_rng(0)
    draws, loss = Spy(rng.normal(size=(6, 12_000, 5))), Spy(rng.normal(size=(6, 12_000)))
    fig = plot.trace(SimpleNamespace(draws=draws, loss=loss), params=(1, 4), chains=2)
    try:
        stride = 3  # ceil(12000 / 5000)
        assert draws.keys == [(slice(0, 2), slice(None, None, stride), 1), (slice(0, 2), slice(None, None, stride), 4)]
        assert loss.keys == [(slice(0, 2), slice(None, None, stride))]
        for a in fig.axes:
            for line in a.lines:
                assert len(line.get_xdata()) == 4000
                assert line.get_xdata()[1] == stride
    finally:
        plt.close(fig)


def test_trace_of_plain_arrays_and_given_axes(tmp_path):
    x = np.random.default_rng(1).normal(size=(3, 50))
    fig = Figure()
    ax = fig.add_subplot()
    assert plot.trace(x, ax=ax, chains=[0, 2], path=tmp_path / "t.png") is fig
    np.testing.assert_array_equal(ax.lines[1].get_ydata(), x[2])
    check_png(tmp_path / "t.png")
    with pytest.raises(ValueError, match="ax"):
        plot.trace(np.zeros((2, 10, 3)), params=(0, 1), ax=ax)  # two panels, one Axes


# ------------------------------------------------------------------------------ other inputs
def test_diagnostics_inputs(run, h5run, tmp_path):
    table = fl.diagnostics.summary(np.asarray(run.draws), names=[f"p{i}" for i in range(18)])
    fig = plot.diagnostics(table, path=tmp_path / "d.png")
    check_png(tmp_path / "d.png")
    assert [t.get_text() for t in fig.axes[1].get_xticklabels()][:2] == ["p0", "p1"]
    fig = plot.diagnostics(h5run, path=tmp_path / "h.png")
    ticks = [t.get_text() for t in fig.axes[1].get_xticklabels()]
    # raw weights, the loss, then the canonical weights (symmetries removed), with their R-hat
    assert ticks[:19] == [f"w[{i}]" for i in range(18)] + ["loss"] and ticks[19].startswith("c[")
    assert "canonical" in fig.axes[1].get_xlabel()
    stride = max(1, -(-h5run.n_draws // 500))
    W = np.asarray(h5run.draws[:, ::stride])
    canon = fl.geometry.canonical_form(h5run.landscape().net, W.reshape(-1, W.shape[2])).reshape(W.shape)
    i = int(ticks[19][2:-1])
    # the R-hat marker drawn at that tick is the rank-normalised R-hat of that canonical weight
    pts = np.concatenate([c.get_offsets() for c in fig.axes[0].collections if len(c.get_offsets())])
    y = pts[np.isclose(pts[:, 0], fig.axes[1].get_xticks()[19]), 1]
    assert y.size == 1 and y[0] == pytest.approx(fl.diagnostics.rhat(canon[:, :, i]), rel=1e-12)
    one_chain = np.random.default_rng(0).normal(size=(1, 100, 2))
    fig = plot.diagnostics(one_chain, path=tmp_path / "one.png")
    assert any("2 chains" in t.get_text() for t in fig.axes[0].texts)


def test_result_objects_are_accepted(tmp_path):
    eig, loss, labels = critical_points(50)
    loss[:2] = 0.0
    cls = SimpleNamespace(lambda_min=eig, loss=loss, label=labels)
    fig = plot.eigenvalue_vs_loss(cls, path=tmp_path / "e.png")
    assert any("loss 0" in t.get_text() for t in fig.axes[0].texts)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend[0].startswith("strict_saddle (")  # fixed class order
    sweep = SimpleNamespace(eps=np.array([0.1, 0.01]), loss=np.ones((2, 3)), start_loss=0.5)
    fig = plot.eps_sweep(sweep, path=tmp_path / "s.png")
    assert any(line.get_label().startswith("unperturbed") for line in fig.axes[0].lines)
    counts = {5: SimpleNamespace(counts=lambda: {"local_min": 3, "global_min": 7})}
    plot.class_counts(counts, normalize=True, path=tmp_path / "c.png")
    check_png(tmp_path / "c.png")


def test_loss_histogram_threshold_share(tmp_path):
    loss = np.array([0.05, 0.2, 0.01, 3.0])
    fig = plot.loss_histogram(loss.reshape(2, 2), threshold=0.1, path=tmp_path / "h.png")
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any("50.0% below" in t for t in texts)


# ------------------------------------------------------------------------------ bad input
BAD = {
    "coords": lambda: plot.minima_map(np.zeros((5, 3))),
    "coords ": lambda: plot.minima_map(np.zeros(5)),
    "loss": lambda: plot.minima_map(np.zeros((5, 2)), loss=np.zeros(4)),
    "explained": lambda: plot.minima_map(np.zeros((5, 2)), explained=[0.9, 0.5]),
    "null": lambda: plot.minima_map(np.zeros((5, 2)), null=-1.0),
    "maps": lambda: plot.minima_maps_by_angle({}),
    "maps[120]": lambda: plot.minima_maps_by_angle({0: minima(0), 120: (np.zeros((3, 3)),)}),
    "data": lambda: plot.dataset(fl.Dataset(np.zeros((4, 3)), np.zeros(4))),
    "data ": lambda: plot.dataset("not data"),
    "datasets": lambda: plot.datasets_by_angle([]),
    "loss ": lambda: plot.loss_histogram(np.array([1.0, np.nan])),
    "loss  ": lambda: plot.loss_histogram(np.array([-1.0, 1.0])),
    "threshold": lambda: plot.loss_histogram(np.ones(3), threshold=-1.0),
    "params": lambda: plot.trace(np.zeros((2, 10, 3)), params=(0, 3)),
    "chains": lambda: plot.trace(np.zeros((2, 10, 3)), chains=0),
    "chains ": lambda: plot.trace(np.zeros((2, 10, 3)), chains=[0, 2]),
    "run_or_array": lambda: plot.trace(np.zeros(10)),
    "summary": lambda: plot.diagnostics({"rhat": [1.0, 1.0], "ess_bulk": [1.0], "ess_tail": [1.0, 2.0]}),
    "summary ": lambda: plot.diagnostics({"rhat": [1.0]}),
    "min_eig": lambda: plot.eigenvalue_vs_loss(np.array([np.inf]), np.ones(1)),
    "loss   ": lambda: plot.eigenvalue_vs_loss(np.zeros(3), np.ones(2)),
    "labels": lambda: plot.eigenvalue_vs_loss(np.zeros(3), np.ones(3), labels=["a"]),
    "counts": lambda: plot.class_counts({5: {"local_min": -1}}),
    "student_W": lambda: plot.neurons(np.zeros((5, 3))),
    "teacher_W": lambda: plot.neurons(np.zeros((5, 2)), np.zeros(4)),
    "student_a": lambda: plot.neurons(np.zeros((5, 2)), student_a=np.zeros(4)),
    "teacher_a": lambda: plot.neurons(np.zeros((5, 2)), np.zeros((4, 2)), teacher_a=np.zeros(3)),
    "eps": lambda: plot.eps_sweep(np.array([0.0, 1.0]), np.ones(2)),
    "losses": lambda: plot.eps_sweep(np.array([0.1, 1.0]), np.ones((3, 2))),
    "ys['b']": lambda: plot.series(np.arange(3), {"a": np.ones(3), "b": np.ones(4)}, "x", "y"),
    "ys": lambda: plot.series(np.arange(3), {}, "x", "y"),
    "xlabel": lambda: plot.series(np.arange(3), {"a": np.ones(3)}, None, "y"),
    "ys ": lambda: plot.series(np.arange(3), {"a": np.ones(3)}, "x", "y", pairs=True),
    "reference['r']": lambda: plot.series(np.arange(3), {"a": np.ones(3)}, "x", "y", reference={"r": np.ones(2)}),
    "ax": lambda: plot.dataset(fl.datasets.random_labels(), ax="not an axes"),
    "fig": lambda: plot.datasets_by_angle({0: fl.datasets.random_labels()}, fig=object()),
}


@pytest.mark.parametrize("argument", list(BAD))
def test_bad_input_names_the_argument(argument):
    before = plt.get_fignums()
    with pytest.raises(ValueError) as info:
        BAD[argument]()
    assert re.match(re.escape(argument.strip()) + r"[\[:]", str(info.value)), str(info.value)
    assert plt.get_fignums() == before  # validation happens before a figure is made


def test_missing_matplotlib_explains_the_extra(monkeypatch, data):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"pip install 'fastland\[plot\]'"):
        plot.dataset(data, path="never.png")


def test_series_pairs_share_a_colour_and_reference_lines_are_grey():
    x = np.arange(4.0)
    ys = {"a found": x, "a theory": x + 1, "b found": 2 * x, "b theory": 2 * x + 1}
    fig = plot.series(x, ys, "x", "y", pairs=True, reference={"bound": np.full(4, 9.0)})
    lines = fig.axes[0].get_lines()
    assert [ln.get_label() for ln in lines] == [*ys, "bound"]
    colors = [ln.get_color() for ln in lines]
    assert colors[0] == colors[1] != colors[2] == colors[3]
    assert [ln.get_linestyle() for ln in lines] == ["None", "--", "None", "--", ":"]
    assert lines[0].get_marker() == "o" and lines[1].get_marker() in ("None", "", None)
    np.testing.assert_array_equal(lines[4].get_ydata(), np.full(4, 9.0))
    plt.close(fig)
