import json

import h5py
import numpy as np
import pytest

from fastland import cli, critical
from fastland.experiments import TeacherStudentResult, teacher_student
from fastland.experiments.teacher_student import OUTCOMES, WidthResult
from fastland.symmetry import G, split_neuron

QUIET = {"progress": False, "log": lambda s: None}

PER_RUN = (
    "trained_loss",
    "trained_grad_norm",
    "trained_lambda_min",
    "trained_label",
    "train_steps",
    "train_status",
    "loss",
    "grad_norm",
    "grad_ratio",
    "refine_status",
    "refine_iterations",
    "converged",
    "label",
    "margin",
    "lambda_min",
    "n_negative",
    "n_zero",
    "expected_null",
    "level",
    "max_outgoing",
    "outgoing_growth",
    "matched",
    "near_teacher",
    "match_kind",
    "match_deviation",
    "outcome",
)
STRINGS = ("train_status", "refine_status", "trained_label", "label", "match_kind", "outcome")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    pytest.importorskip("matplotlib")
    out = tmp_path_factory.mktemp("ts")
    res = teacher_student(
        widths=(4, 5), runs=8, steps=30, refine_iter=30, eps=(1e-2, 0.3), sweep_tries=2, out_dir=out, seed=3,
        figures=True, **QUIET,
    )  # fmt: skip
    return res, out


def test_tiny_run_returns_every_documented_field(tiny):
    res, out = tiny
    assert isinstance(res, TeacherStudentResult)
    assert [w.width for w in res.widths] == [4, 5]
    for w in res.widths:
        assert isinstance(w, WidthResult) and w.runs == 8
        p = 3 * w.width
        for name in ("init", "trained", "points", "eigenvalues"):
            assert getattr(w, name).shape == (8, p), name
        for name in PER_RUN:
            assert np.shape(getattr(w, name)) == (8,), name
        for name in ("match_teacher", "match_sign"):
            assert getattr(w, name).shape == (8, w.width)
        assert set(w.label) <= set(critical.LABELS)
        assert set(w.outcome) <= set(OUTCOMES)
        # counts add up to the runs, per label and per outcome
        assert set(w.counts) == set(critical.LABELS) and sum(w.counts.values()) == 8
        assert set(w.outcome_counts) == set(OUTCOMES) and sum(w.outcome_counts.values()) == 8
        assert "near_global" not in OUTCOMES
        # levels: -1 exactly for points that are not critical; the level table adds up
        assert ((w.level == -1) == (w.label == "not_critical")).all()
        assert (w.level < w.width).all()
        for k, per_level in w.level_counts.items():
            assert sum(per_level.values()) == w.outcome_counts[k]
        assert w.outcome_counts["global_min"] >= int(w.matched.sum())
        assert w.G == {r: G(r, w.width) for r in range(1, 5)}
        assert set(w.seconds) == {"training", "refinement", "classification", "sweep"}
        # the starts are normal(0, 1) draws from default_rng([seed, m])
        np.testing.assert_array_equal(w.init, np.random.default_rng([3, w.width]).normal(0.0, 1.0, (8, p)))
        # refined points carry the classification of their own Hessian
        np.testing.assert_allclose(w.lambda_min, w.eigenvalues[:, 0])
        for i, source, sweep in w.sweeps:
            assert 0 <= i < 8 and source in ("refined saddle", "refined point, lambda_min < 0", "trained end point")
            assert sweep.loss.shape == (2, 2) and sweep.label.shape == (2, 2)
    assert "global" in res.table() and "G(4,m)" in res.table()
    assert "G(m-l,m)" in res.level_table() and res.level_table() in str(res)
    v = res.assess()
    unclassified = sum(w.outcome_counts["not_converged"] + w.outcome_counts["diverged"] for w in res.widths)
    assert v.check("classified").value == 16 - unclassified and v.check("classified").threshold == 16
    assert v.label == ("classified" if unclassified == 0 else "partly_classified")
    assert v.settings["optimizer"] == "adam" and v.settings["match_tol"] == 1e-4
    assert any(line.startswith("m=5, 8 runs") and "G(4,5) = 240" in line for line in v.evidence)
    assert set(res.seconds) >= {"training", "refinement", "classification", "total"}


def test_tiny_run_writes_its_files(tiny):
    res, out = tiny
    names = {p.name for p in out.iterdir()}
    assert {
        "teacher_student.h5",
        "summary.json",
        "class_counts.png",
        "eigenvalue_vs_loss_m4.png",
        "neurons_m4.png",
        "eigenvalue_vs_loss_m5.png",
        "neurons_m5.png",
    } <= names
    for f in res.files:
        assert (out / f).exists() or __import__("os").path.exists(f)
    with h5py.File(out / "teacher_student.h5", "r") as f:
        assert f.attrs["format"] == "fastland.teacher_student" and f.attrs["format_version"] == 1
        assert json.loads(f.attrs["settings"])["runs"] == 8
        assert list(f.attrs["widths"]) == [4, 5]
        np.testing.assert_array_equal(f["teacher/params"][:], res.teacher_params)
        assert f["data/X"].shape == (1681, 2)
        for w in res.widths:
            g = f[f"width_{w.width}"]
            np.testing.assert_array_equal(g["points"][:], w.points)
            np.testing.assert_array_equal(g["trained"][:], w.trained)
            for name in STRINGS:  # fixed-length byte strings
                assert g[name].dtype.kind == "S", name
                assert [s.decode() for s in g[name][:]] == list(getattr(w, name))
            assert json.loads(g.attrs["outcome_counts"]) == w.outcome_counts
            np.testing.assert_array_equal(g["level"][:], w.level)
            assert json.loads(g.attrs["level_counts"]) == {
                k: {str(a): n for a, n in v.items()} for k, v in w.level_counts.items()
            }
            assert json.loads(g.attrs["G"])["4"] == G(4, w.width)
            for k in range(len(w.sweeps)):
                assert g[f"eps_sweep_{k}/label"].dtype.kind == "S"
    saved = json.loads((out / "summary.json").read_text())
    assert saved["verdict"] == res.verdict and saved["verdict_label"] == res.verdict_label
    assert (out / "report.md").read_text() == res.report()
    assert [s["outcome_counts"] for s in saved["widths"]] == [w.outcome_counts for w in res.widths]


def test_the_teacher_ends_as_a_matched_global_minimum(ts, tmp_path):
    t = ts.teacher_params
    _, split = split_neuron(ts.teacher, t, 2, (0.3, 0.7))
    starts = {4: np.stack([t, t]), 5: np.stack([split, split])}
    res = teacher_student(
        widths=(4, 5), runs=2, steps=20, refine_iter=20, eps=(), init=starts, out_dir=tmp_path, figures=False, **QUIET
    )
    for w in res.widths:
        assert list(w.label) == ["global_min", "global_min"]
        assert w.matched.all() and list(w.outcome) == ["global_min", "global_min"]
        assert w.outcome_counts["global_min"] == 2 and sum(w.outcome_counts.values()) == 2
    assert res[4].level.tolist() == [0, 0] and res[5].level.tolist() == [1, 1]
    assert res[5].level_counts["global_min"] == {1: 2}
    assert set(res[4].match_kind) == {"teacher"}
    assert set(res[5].match_kind) == {"teacher+split"}
    np.testing.assert_array_equal(res[5].match_teacher[0], [0, 1, 2, 2, 3])


def test_runs_sliding_towards_a_level3_global_minimum_are_global_minima(ts, tmp_path):
    # width 7: teacher neuron 2 split into three copies 1e-2 / 1e-3 apart plus a neuron with zero
    # outgoing weights; refinement is still sliding after 5 descent steps, the reduction jump
    # lands on the exactly symmetric point, a level-3 global minimum matched to the teacher
    wide, w = split_neuron(ts.teacher, ts.teacher_params, 2, (0.2, 0.3, 0.5))
    (W, _), (A, _) = wide.unflatten(w)
    rng = np.random.default_rng(0)
    starts = []
    for d in (1e-2, 1e-3):
        u1, u2 = rng.standard_normal((2, 2))
        W7 = np.vstack([W, rng.standard_normal(2)])
        W7[2:5] += d * np.array([u1, u2, -(0.2 * u1 + 0.3 * u2) / 0.5])
        starts.append(ts.student(7).flatten([(W7, None), (np.hstack([A, [[0.0]]]), None)]))
    res = teacher_student(
        widths=(7,),
        runs=2,
        steps=1,
        lr=1e-14,
        refine_iter=5,
        eps=(),
        init={7: np.array(starts)},
        out_dir=tmp_path,
        figures=False,
        **QUIET,
    )
    w7 = res[7]
    assert list(w7.refine_status) == ["reduced", "reduced"]
    assert list(w7.outcome) == ["global_min", "global_min"] and w7.matched.all()
    assert w7.level.tolist() == [3, 3] and w7.level_counts["global_min"] == {3: 2}
    assert (w7.loss < 1e-28).all()


def test_descent_reaches_the_rounding_floor_near_the_teacher(ts, student_lands):
    land = student_lands[4]  # the teacher's architecture
    start = ts.teacher_params + 1e-2 * np.random.default_rng(0).standard_normal((3, 12))
    r = critical.refine(land, start, method="descent", max_iter=50)
    assert r.converged.all() and (r.loss < 1e-25).all()
    assert critical.classify(land, r.points, global_loss=0.0).counts()["global_min"] == 3


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match="refine"):
        teacher_student(widths=(4,), runs=2, refine="bogus", out_dir=tmp_path, **QUIET)
    with pytest.raises(ValueError, match="widths"):
        teacher_student(widths=(), runs=2, out_dir=tmp_path, **QUIET)
    with pytest.raises(ValueError, match=r"init\[4\]"):
        teacher_student(widths=(4,), runs=2, init={4: np.zeros((3, 12))}, out_dir=tmp_path, **QUIET)
    (tmp_path / "teacher_student.h5").write_bytes(b"")
    with pytest.raises(FileExistsError, match="teacher_student.h5"):
        teacher_student(widths=(4,), runs=2, out_dir=tmp_path, **QUIET)
    with pytest.raises(ValueError, match="overwrite"):
        teacher_student(widths=(4,), runs=2, out_dir=tmp_path, overwrite=1, **QUIET)


def test_cli_teacher_student(tmp_path, capsys):
    out = tmp_path / "ts"
    code = cli.main(
        [
            "teacher-student",
            "--widths",
            "4",
            "--runs",
            "3",
            "--steps",
            "10",
            "--refine-iter",
            "10",
            "--out",
            str(out),
            "--no-figures",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "G(4,m)" in printed and "training" in printed
    assert {p.name for p in out.iterdir()} == {"teacher_student.h5", "summary.json", "report.md"}
    with pytest.raises(SystemExit):  # refuses a non-empty folder
        cli.main(["teacher-student", "--widths", "4", "--runs", "3", "--out", str(out), "--no-figures"])


@pytest.mark.parametrize("method", [None, "newton", "trust-exact"])
def test_other_refinements(tmp_path, method):
    res = teacher_student(
        widths=(4,),
        runs=2,
        steps=10,
        refine=method,
        refine_iter=20 if method else None,
        eps=(0.1,),
        sweep_tries=1,
        out_dir=tmp_path,
        figures=False,
        **QUIET,
    )
    w = res[4]
    assert sum(w.outcome_counts.values()) == 2
    if method is None:
        np.testing.assert_array_equal(w.points, w.trained)
        assert set(w.refine_status) == {"none"}
        np.testing.assert_array_equal(w.lambda_min, w.trained_lambda_min)
    assert res.settings["refine"] == method
    with h5py.File(tmp_path / "teacher_student.h5", "r") as f:
        assert json.loads(f.attrs["settings"])["refine"] == method
