"""A user's own data: fl.datasets.load and the CLI's --data FILE with every model option."""

import h5py
import numpy as np
import pytest
from numpy.testing import assert_array_equal

import fastland as fl
from fastland import cli


@pytest.fixture
def moons_like():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    y = (X[:, 0] * X[:, 1] > 0).astype(float)
    return X, y


def test_every_format_reads_the_same_dataset(tmp_path, moons_like):
    X, y = moons_like
    np.savez(tmp_path / "d.npz", X=X, y=y)
    np.savez(tmp_path / "named.npz", inputs=X, labels=y)
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f["data/X"] = X
        f["data/y"] = y
    header = "a,b,c,label\n"
    rows = "\n".join(",".join(repr(float(v)) for v in (*r, t)) for r, t in zip(X, y, strict=True))
    (tmp_path / "d.csv").write_text(header + rows)
    (tmp_path / "nohead.csv").write_text(rows)
    loaded = [
        fl.datasets.load(tmp_path / "d.npz"),
        fl.datasets.load(tmp_path / "named.npz", x="inputs", y="labels"),
        fl.datasets.load(tmp_path / "d.h5", x="data/X", y="data/y"),
        fl.datasets.load(tmp_path / "d.csv"),
        fl.datasets.load(tmp_path / "nohead.csv"),
    ]
    for d in loaded:
        assert_array_equal(d.X, X)  # repr of a float round-trips exactly through the CSV
        assert_array_equal(d.y, y)
    # two target columns
    two = fl.datasets.load(tmp_path / "nohead.csv", y_columns=2)
    assert two.X.shape == (30, 2) and two.y.shape == (30, 2)


def test_bad_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        fl.datasets.load(tmp_path / "none.npz")
    (tmp_path / "d.txt").write_text("1,2")
    with pytest.raises(ValueError, match="expected a file ending"):
        fl.datasets.load(tmp_path / "d.txt")
    np.savez(tmp_path / "d.npz", X=np.zeros((3, 2)))
    with pytest.raises(ValueError, match="no array 'y'"):
        fl.datasets.load(tmp_path / "d.npz")
    (tmp_path / "bad.csv").write_text("a,b\n1,x\n")
    with pytest.raises(ValueError, match="not a numeric CSV"):
        fl.datasets.load(tmp_path / "bad.csv")
    (tmp_path / "bad.h5").write_text("not hdf5")
    with pytest.raises(ValueError, match="not an HDF5"):
        fl.datasets.load(tmp_path / "bad.h5")


def test_cli_samples_a_users_data_with_every_model_option(tmp_path, moons_like, capsys):
    X, y = moons_like
    np.savez(tmp_path / "moons.npz", X=X, y=y)
    out = tmp_path / "run.h5"
    argv = ["sample", "--data", str(tmp_path / "moons.npz"), "--hidden", "4,3", "--activation", "sigmoid",
            "--loss", "bce", "--no-bias", "--weight-decay", "0.01", "--chains", "4", "--draws", "20",
            "--warmup", "10", "--out", str(out)]  # fmt: skip
    assert cli.main(argv) == 0
    with fl.open_run(out) as run:
        land = run.landscape()
        assert land.net == fl.MLP(3, [4, 3], 1, activation="sigmoid", loss="bce", bias=False)
        assert land.weight_decay == 0.01
        assert_array_equal(land.data.X, X)
        assert run.n_draws == 20
    # n_out from the data: softmax_xent over the two classes; mse over y's one column
    assert cli._default_n_out(fl.Dataset(X, y), "softmax_xent") == 2
    assert cli._default_n_out(fl.Dataset(X, y), "mse") == 1
    out2 = tmp_path / "mse.h5"
    assert cli.main(["sample", "--data", str(tmp_path / "moons.npz"), "--loss", "mse", "--chains", "3", "--draws", "8",
                     "--warmup", "4", "--out", str(out2)]) == 0  # fmt: skip
    with fl.open_run(out2) as run:
        assert run.landscape().net.n_out == 1


def test_cli_version(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.strip() == f"fastland {fl.__version__}"
