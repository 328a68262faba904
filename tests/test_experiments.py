import json

import numpy as np
import pytest
from scipy import stats

import fastland as fl
from fastland import cli
from fastland.experiments import rotation


# threshold 0.5: too few low-loss draws at 90 degrees (19 of 30); 0.7: enough at both angles
@pytest.mark.parametrize("threshold", [0.5, 0.7])
def test_rotation_tiny_returns_every_field(seed001_data, tmp_path, threshold):
    res = rotation(
        angles=(0, 90),
        chains=4,
        draws=150,
        thin=2,
        warmup=50,
        step_size=0.3,
        temperature=0.3,
        threshold=threshold,
        max_points=400,
        out_dir=tmp_path,
        figures=False,
        progress=False,
        log=lambda s: None,
    )
    assert [a.angle for a in res.angles] == [0.0, 90.0]
    n_low, thinned = {}, {}
    for a in res.angles:
        assert a.plane.indices.size == 400
        assert 0.0 <= a.acceptance <= 1.0
        with fl.open_run(a.path) as run:
            assert run.n_draws == 150 and run.n_chains == 4
            # the run file stores the rotated data: rotating back gives the base dataset
            back = run.landscape().data.rotate(-a.angle).X
            np.testing.assert_allclose(back, seed001_data.X, atol=1e-12)
            loss = np.asarray(run.loss[:]).ravel()
            assert a.acceptance == pytest.approx(np.mean(run.stats["accepted"][:], dtype=np.float64), rel=1e-12)
            ess = max(2.0, float(run.summary().rows["loss"]["ess_bulk_min"]))
        # recomputed from the run: the low-loss draws (loss < threshold) among the plane's points,
        # and the loss thinned to about one draw per effective sample for the KS test
        n_low[a.angle] = int(np.count_nonzero(loss[a.plane.indices] < threshold))
        assert a.plane.n_low == n_low[a.angle]
        assert a.plane.enough == (n_low[a.angle] >= 30)  # minima_plane's min_low
        thinned[a.angle] = loss[:: max(1, round(loss.size / ess))]
    assert set(res.plane_angles_raw) == {"90"} and set(res.loss_ks_pvalue) == {"90"}
    assert res.loss_ks_pvalue["90"] == pytest.approx(stats.ks_2samp(thinned[0.0], thinned[90.0]).pvalue, rel=1e-12)
    # the verdict that follows from these numbers and the experiment's rule
    v = res.assess()
    assert v.label == res.verdict_label
    if min(n_low.values()) < 30:
        assert v.label == "inconclusive" and "too few low-loss draws" in res.verdict
    else:
        assert v.label == _expected_label(res)
        if v.label == "no_change":  # the rule: every comparison within its noise
            assert all(v.check(n).passed for n in ("explained_spread", "loss_ks_pvalue_min", "energy_distance_max"))
    saved = json.loads((tmp_path / "rotation.json").read_text())
    assert saved["verdict"] == res.verdict and len(saved["angles"]) == 2
    assert saved["verdict_label"] == v.label and saved["settings"]["chains"] == 4


def _expected_label(res):
    """The verdict label by the rule of ``rotation``, from the stored numbers (enough low-loss draws)."""
    expl = np.array([np.nansum(a.plane.explained) for a in res.angles])
    # noise: two standard errors of a difference, or the gap between chain halves if larger
    noise = 2 * np.sqrt(2) * np.nanmax([a.explained_sd for a in res.angles])
    noise = np.nanmax([noise, *(a.half_gap for a in res.angles)])
    base = res.energy_baseline
    same = [
        not (expl.max() - expl.min() > noise),
        min(res.loss_ks_pvalue.values()) > 0.01,
        not (np.isfinite(base) and max(res.energy_distance.values()) > 2 * max(base, 1e-12)),
    ]
    # unconverged runs (by their own summaries, recomputed from the files) compare nothing
    if not all(fl.open_run(a.path).summary().converged for a in res.angles):
        return "inconclusive"
    return "no_change" if all(same) else "changed"


def test_aligned_draws_have_the_same_loss(seed001_data):
    # rotating the data by R equals rotating the first-layer weights: W1 -> W1 R maps the
    # rotated landscape onto the unrotated one exactly (the isometry the experiment uses)
    from fastland.experiments.rotation import _align

    net = fl.MLP(2, [2, 2], 2)
    base = seed001_data
    W = net.init(16, method="uniform", scale=3.0, seed=1)
    rotated = fl.Landscape(net, base.rotate(120)).loss(W)
    np.testing.assert_allclose(fl.Landscape(net, base).loss(_align(net, W, 120)), rotated, rtol=1e-12)


@pytest.mark.slow  # a subprocess or a whole experiment: seconds even with the kernels cached
def test_demo_cli_writes_every_file_it_promises(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "demo"
    assert cli.main(["demo", "--out", str(out), "--chains", "4", "--draws", "120"]) == 0
    printed = capsys.readouterr().out
    listed = [line.strip() for line in printed.splitlines() if line.startswith("  ") and str(out) in line]
    assert len(listed) >= 10
    for path in listed:
        assert (tmp_path / path).exists() or __import__("os").path.exists(path)
    names = {p.name for p in out.iterdir()}
    for angle in ("0", "120", "240"):
        assert {f"rotation_{angle}.h5", f"loss_{angle}.png", f"trace_{angle}.png"} <= names
    assert {"datasets.png", "minima_maps.png", "rotation.json"} <= names
    assert "R-hat max" in printed


def test_demo_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "x").write_text("keep")
    with pytest.raises(SystemExit):
        cli.main(["demo", "--out", str(tmp_path)])
    assert (tmp_path / "x").read_text() == "keep"


def test_sample_info_geometry_plot_cli(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    path = tmp_path / "r.h5"
    assert (
        cli.main(
            [
                "sample",
                "--out",
                str(path),
                "--chains",
                "4",
                "--draws",
                "100",
                "--warmup",
                "50",
                "--temperature",
                "0.3",
                "--thin",
                "2",
            ]
        )
        == 0
    )
    assert cli.main(["info", str(path)]) == 0
    assert cli.main(["geometry", str(path), "--threshold", "0.5"]) == 0
    assert cli.main(["plot", str(path), "--threshold", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "R-hat max" in out and "Rashomon ratio" in out
    assert (tmp_path / "r_trace.png").exists() and (tmp_path / "r_loss.png").exists()


def test_experiment_json_helpers_map_non_finite_to_null():
    import json

    from fastland.experiments._json import finite_list, finite_or_none, json_default

    assert finite_or_none(np.int64(3)) == 3 and isinstance(finite_or_none(np.int64(3)), int)
    assert finite_or_none(np.float32(0.5)) == 0.5
    assert [finite_or_none(v) for v in (None, np.nan, np.inf, -np.inf)] == [None] * 4
    assert finite_list([[1.0, np.nan], [np.inf, 2.0]]) == [[1.0, None], [None, 2.0]]
    assert finite_list(np.array([True, False])) == [True, False]
    assert json.loads(json.dumps({"a": np.arange(3), "b": np.float64(1.5)}, default=json_default)) == {
        "a": [0, 1, 2],
        "b": 1.5,
    }


def test_the_result_protocol_on_a_toy_result(tmp_path):
    import os
    from dataclasses import dataclass

    from fastland.experiments import Check, ExperimentResult, Verdict

    @dataclass
    class Toy(ExperimentResult):
        value: float
        TITLE = "Toy"
        JSON_FILE = "toy.json"
        VERDICT_LABELS = ("small", "large")

        def table(self):
            return "| v |\n|---|\n| 1 |"

        def assess(self):
            ok = self.value < 1
            check = Check("value", "the value", ok, self.value, 1.0, "<")
            head = f"{'Small' if ok else 'Large'}: value {self.value:g}."
            return Verdict("small" if ok else "large", head, ("one line",), (check,), ("a caveat",), {"limit": 1.0})

        def _summary(self):
            return {"value": self.value, "nan": float("nan"), "array": np.array([1.5, np.inf])}

    r = Toy(value=2.0, settings={"a": 1})
    assert r.verdict_label == "large" and r.verdict.splitlines()[0] == "Large: value 2."
    assert "- the value: 2 >= 1 (failed)" in r.verdict.splitlines()  # the comparison as it turned out
    assert r.verdict.index("Evidence:") < r.verdict.index("Tests:") < r.verdict.index("Caveats:")
    d = r.to_dict()
    assert d["nan"] is None and d["array"] == [1.5, None] and d["settings"] == {"a": 1}
    assert d["assessment"]["checks"][0] == {
        "name": "value", "about": "the value", "passed": False, "value": 2.0, "threshold": 1.0, "rule": "<",
    }  # fmt: skip
    paths = r.write(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["report.md", "toy.json"] and r.files == paths
    assert json.loads((tmp_path / "toy.json").read_text())["files"] == paths
    report = (tmp_path / "report.md").read_text()
    assert report == r.report() and report.startswith("# Toy\n\n| v |") and "**Verdict.** Large" in report
    with pytest.raises(FileExistsError, match="toy.json"):
        r.write(tmp_path)
    assert (tmp_path / "report.md").read_text() == report
    r.value = 0.5
    r.write(tmp_path, overwrite=True)
    assert json.loads((tmp_path / "toy.json").read_text())["verdict_label"] == "small" and r.files == paths
    with pytest.raises(ValueError, match="figures"):  # figures are files: they need out_dir
        Toy.claim(None, figures=True, overwrite=False)
    Toy.VERDICT_LABELS = ("large",)
    with pytest.raises(RuntimeError, match="small"):
        _ = r.verdict_label


def test_rotation_control_runs_and_is_read_against_the_box(tmp_path):
    # the control samples every angle under a Gaussian prior of the box's variance (weight decay
    # 3 T / box^2) on a box of 1000, into its own run files; low loss is the data's loss there
    T, box = 0.3, 10.0
    res = rotation(angles=(0, 90), chains=4, draws=120, thin=2, warmup=40, step_size=0.3, temperature=T, box=box,
                   threshold=0.7, max_points=300, control=True, out_dir=tmp_path)  # fmt: skip
    c = res.control
    assert c is not None and [a.angle for a in c.angles] == [0.0, 90.0]
    assert c.settings["weight_decay"] == pytest.approx(3 * T / box**2) and c.settings["box"] == 1000.0
    for a in c.angles:
        with fl.open_run(a.path) as run:
            assert run.path.endswith(f"rotation_control_{a.angle:g}.h5") and run.attrs["box"] == 1000.0
            land = run.landscape()
            assert land.weight_decay == pytest.approx(3 * T / box**2)
            W = run.draws[:]
            data_loss = fl.Landscape(land.net, land.data).loss(W.reshape(-1, W.shape[2]))
            assert a.plane.n_low == int(np.count_nonzero(data_loss[a.plane.indices] < 0.7))
        assert a.path in res.files
    assert "control" in res.to_dict() and any(ch.name.startswith("control_") for ch in res.assess().checks)


@pytest.mark.parametrize(
    "own, ctl, expected",
    [
        ("no_change", "no_change", "no_change"),
        ("changed", "no_change", "changed"),  # the box's effect
        ("changed", "changed", "inconclusive"),  # the comparisons see change where none can be
        ("no_change", "inconclusive", "inconclusive"),
        ("inconclusive", "no_change", "inconclusive"),
    ],
)
def test_rotation_verdict_reads_the_box_against_the_control(monkeypatch, own, ctl, expected):
    from fastland.experiments._result import Verdict
    from fastland.experiments.rotation import RotationResult

    def fake(self):
        label = ctl if self.settings.get("is_control") else own
        return Verdict(label, f"{label.capitalize()}: x.", (), (), (), {})

    monkeypatch.setattr(RotationResult, "_assess_runs", fake)
    empty = dict(angles=[], plane_angles_raw={}, plane_angles_aligned={}, energy_distance={}, energy_baseline=0.0,
                 loss_ks_pvalue={})  # fmt: skip
    res = RotationResult(**empty, settings={}, control=RotationResult(**empty, settings={"is_control": True}))
    v = res.assess()
    assert v.label == expected
    if expected == "changed":
        assert "the change is the box's effect" in v.headline
