"""No experiment and no command replaces an existing result unless asked (overwrite=True, --overwrite).

For every experiment: a result file already in ``out_dir`` refuses the call before any
computation starts (the computation is replaced by a function that fails the test), and
leaves every byte in the folder as it was; a second identical call refuses the same way;
``overwrite=True`` replaces every file the call writes and nothing else.
"""

from __future__ import annotations

import importlib
import os
import re

import h5py
import numpy as np
import pytest

from fastland import cli

pytest.importorskip("matplotlib")

QUIET = {"progress": False}
# experiment -> (module, tiny keyword arguments, the computations to forbid in the claim test,
#                files a call with figures=True may write)
EXPERIMENTS = {
    "degeneracy": (
        "degeneracy",
        dict(configs=((2, 3),), activations=("tanh",), dim=2, runs=2, steps=100, figures=True, **QUIET),
        ("train",),
        ("degeneracy.h5", "degeneracy.json", "report.md", "spectrum_tanh_m2_N3.png"),
    ),
    "langevin_vs_sgd": (
        "langevin_vs_sgd",
        dict(runs=16, samples_per_run=3, chains=8, figures=True, **QUIET),
        ("_find_minimum", "train", "sample"),
        ("samples.h5", "langevin_vs_sgd.json", "report.md", "histogram_param0.png", "histogram_param1.png"),
    ),
    "slingshot": (
        "slingshot",
        dict(
            runs=4,
            n=24,
            hidden=(6,),
            overfit_epochs=60,
            after_epochs=6,
            curve_points=3,
            factors=(0.5,),
            figures=True,
            **QUIET,
        ),  # fmt: skip
        ("train",),
        ("slingshot.json", "report.md", "slingshot_curves.png", "slingshot_accuracy.png", "slingshot_factors.png"),
    ),
    "deep_linear": (
        "deep_linear",
        dict(depths=(1,), weight_decay=(0.05, 3.0), runs=2, steps=100, n=12, figures=True, **QUIET),
        ("train",),
        ("deep_linear.h5", "deep_linear.json", "report.md", "deep_linear_loss.png", "deep_linear_zero.png"),
    ),
    "lr_sweep": (
        "lr_sweep",
        dict(lrs=(0.1, 0.4), runs=2, steps=100, fine_steps=20, figures=True, **QUIET),
        ("train",),
        ("lr_sweep.h5", "lr_sweep.json", "report.md", "lr_sweep_sharpness.png", "lr_sweep_loss.png"),
    ),
    "precision": (
        "precision",
        dict(dtypes=("float64", "float16"), runs=2, steps=400, record_every=100, figures=True, **QUIET),
        ("_reference", "train"),
        (
            "precision.h5",
            "precision.json",
            "report.md",
            "precision_stalled.png",
            "precision_loss.png",
            "precision_spread.png",
        ),  # fmt: skip
    ),
    "rotation": (
        "rotation",
        dict(
            angles=(0, 90),
            chains=4,
            draws=60,
            thin=2,
            warmup=40,
            step_size=0.3,
            temperature=0.3,
            threshold=0.5,
            max_points=200,
            figures=True,
            log=lambda s: None,
            **QUIET,
        ),  # fmt: skip
        ("sample",),
        (
            "rotation_0.h5",
            "rotation_90.h5",
            "rotation.json",
            "report.md",
            "datasets.png",
            "minima_maps.png",
            "loss_0.png",
            "trace_90.png",
            "diagnostics_90.png",
        ),  # fmt: skip
    ),
    "teacher_student": (
        "teacher_student",
        dict(
            widths=(4,),
            runs=2,
            steps=20,
            refine_iter=20,
            eps=(0.3,),
            sweep_tries=1,
            figures=True,
            log=lambda s: None,
            **QUIET,
        ),  # fmt: skip
        ("_one_width",),
        (
            "teacher_student.h5",
            "summary.json",
            "report.md",
            "class_counts.png",
            "eigenvalue_vs_loss_m4.png",
            "neurons_m4.png",
            "eps_sweep_m4.png",
        ),  # fmt: skip
    ),
}
CLAIM_CASES = [(name, f) for name, spec in EXPERIMENTS.items() for f in spec[3]]
OLD = b"an earlier result: must survive\n"


def _run(name, out_dir, **kw):
    module_name, kwargs, _, _ = EXPERIMENTS[name]
    module = importlib.import_module(f"fastland.experiments.{module_name}")
    return getattr(module, module_name)(**{**kwargs, **kw}, out_dir=out_dir)


def _snapshot(folder):
    """Bytes, modification time and inode of every file in ``folder``."""
    snap = {}
    for entry in os.scandir(folder):
        st = entry.stat()
        with open(entry.path, "rb") as fh:
            snap[entry.name] = (fh.read(), st.st_mtime_ns, st.st_ino)
    return snap


@pytest.mark.parametrize("name, existing", CLAIM_CASES, ids=[f"{n}-{f}" for n, f in CLAIM_CASES])
def test_an_existing_result_refuses_the_call_before_any_computation(name, existing, tmp_path, monkeypatch):
    module_name, _, computations, _ = EXPERIMENTS[name]
    module = importlib.import_module(f"fastland.experiments.{module_name}")

    def computed(*args, **kwargs):
        raise AssertionError("the computation started although a result file exists")

    for fn in computations:
        monkeypatch.setattr(module, fn, computed)
    (tmp_path / existing).write_bytes(OLD)
    before = _snapshot(tmp_path)
    with pytest.raises(FileExistsError, match=re.escape(existing)) as info:
        _run(name, tmp_path)
    assert "overwrite=True" in str(info.value)
    assert _snapshot(tmp_path) == before  # nothing written, nothing replaced
    assert (tmp_path / existing).read_bytes() == OLD


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_overwrite_must_be_a_bool(name, tmp_path):
    with pytest.raises(ValueError, match="overwrite"):
        _run(name, tmp_path, overwrite="yes")
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_second_run_is_refused_and_overwrite_replaces_every_file(name, tmp_path):
    out = tmp_path / "out"
    first = _run(name, out)
    written = {os.path.basename(f) for f in first.files}
    assert written == {p.name for p in out.iterdir()}  # the result lists every file it wrote
    before = _snapshot(out)
    with pytest.raises(FileExistsError) as info:
        _run(name, out)
    assert any(f in str(info.value) for f in written)
    assert _snapshot(out) == before  # no byte, no time stamp changed

    # with overwrite=True every file is written anew: mark the old ones, add a stranger
    for f in written:
        (out / f).write_bytes(OLD)
    (out / "notes.txt").write_bytes(OLD)
    second = _run(name, out, overwrite=True)
    assert {os.path.basename(f) for f in second.files} == written
    for f in written:
        data = (out / f).read_bytes()
        assert data != OLD, f
        if f.endswith(".png"):
            assert data.startswith(b"\x89PNG\r\n\x1a\n"), f
        elif f.endswith(".h5"):
            with h5py.File(out / f, "r") as h5:
                assert len(h5.attrs["format"]) > 0
    assert (out / "notes.txt").read_bytes() == OLD  # a file the run does not write is left alone
    assert not [p.name for p in out.iterdir() if ".tmp-" in p.name]  # no temporary file left behind


def test_rotation_refuses_repeated_angles(tmp_path):
    # one run file per angle: a repeated angle would make the call replace its own result
    with pytest.raises(ValueError, match="angles"):
        _run("rotation", tmp_path, angles=(90, 90.0))
    assert not any(tmp_path.iterdir())


def test_experiment_h5_files_are_stamped(tmp_path):
    # the HDF5 result files say what they are (format, format_version, fastland_version)
    import fastland as fl

    _run("lr_sweep", tmp_path, figures=False)
    with h5py.File(tmp_path / "lr_sweep.h5", "r") as f:
        assert f.attrs["format"] == "fastland.lr_sweep" and f.attrs["format_version"] == 1
        assert f.attrs["fastland_version"] == fl.__version__
        assert np.asarray(f["lrs"]).tolist() == [0.1, 0.4]


# --------------------------------------------------------------------------- the command
@pytest.fixture(scope="module")
def run_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("plot") / "r.h5"
    args = ["sample", "--out", str(path), "--chains", "4", "--draws", "100", "--warmup", "50"]
    assert cli.main([*args, "--temperature", "0.3", "--thin", "2"]) == 0
    return path


def test_plot_refuses_an_existing_png_and_overwrite_replaces_it(run_file, capsys):
    folder = run_file.parent
    for p in folder.glob("*.png"):
        p.unlink()
    old = folder / "r_trace.png"
    old.write_bytes(OLD)
    with pytest.raises(SystemExit) as info:
        cli.main(["plot", str(run_file), "--threshold", "0.5"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "r_trace.png" in err and "--overwrite" in err  # one clear line
    assert old.read_bytes() == OLD
    assert sorted(p.name for p in folder.glob("*.png")) == ["r_trace.png"]  # no other figure was written
    assert cli.main(["plot", str(run_file), "--threshold", "0.5", "--overwrite"]) == 0
    assert old.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert {"r_loss.png", "r_trace.png", "r_diagnostics.png"} <= {p.name for p in folder.glob("*.png")}


def test_plot_functions_refuse_an_existing_file(tmp_path):
    from fastland import plot

    path = tmp_path / "s.png"
    path.write_bytes(OLD)
    with pytest.raises(FileExistsError, match="s.png"):
        plot.series(np.arange(3), {"a": np.arange(3.0)}, "x", "y", path=path)
    assert path.read_bytes() == OLD
    plot.series(np.arange(3), {"a": np.arange(3.0)}, "x", "y", path=path, overwrite=True)
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(ValueError, match="overwrite"):
        plot.series(np.arange(3), {"a": np.arange(3.0)}, "x", "y", path=tmp_path / "t.png", overwrite="no")


def test_sample_command_refuses_an_existing_file_and_overwrite_replaces_it(tmp_path, capsys):
    path = tmp_path / "r.h5"
    path.write_bytes(OLD)
    args = ["sample", "--out", str(path), "--chains", "4", "--draws", "10", "--warmup", "5"]
    with pytest.raises(SystemExit):
        cli.main(args)
    assert "r.h5" in capsys.readouterr().err
    assert path.read_bytes() == OLD
    assert cli.main([*args, "--overwrite"]) == 0
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == "fastland.run"


def test_reproduce_overwrite_writes_into_a_used_folder(monkeypatch, tmp_path, capsys):
    # rotation at a tiny size: the experiment writes report.md (ExperimentResult.write)
    monkeypatch.setitem(cli._SMALL, "rotation", dict(chains=4, draws=60, thin=2, warmup=40, max_points=200))
    out = tmp_path / "rot"
    out.mkdir()
    (out / "report.md").write_bytes(OLD)
    (out / "notes.txt").write_bytes(OLD)
    args = ["reproduce", "rotation", "--out", str(out), "--no-figures"]
    with pytest.raises(SystemExit):  # a non-empty folder needs --overwrite
        cli.main(args)
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "report.md").read_bytes() == OLD
    assert cli.main([*args, "--overwrite"]) == 0
    assert (out / "report.md").read_text().startswith("# Rotation experiment")
    assert (out / "notes.txt").read_bytes() == OLD
    assert {"rotation_0.h5", "rotation_120.h5", "rotation_240.h5", "rotation.json"} <= {p.name for p in out.iterdir()}
