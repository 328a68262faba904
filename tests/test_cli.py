"""The ``fastland reproduce`` command and its registry of seed experiments.

(The ``demo``, ``teacher-student``, ``sample``, ``info``, ``geometry`` and ``plot`` commands are
tested in test_experiments.py and test_teacher_student.py; ``demo`` and ``teacher-student`` run
through the same code path as ``reproduce``.)
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

from fastland import cli

PROTOCOL = ("seed", "out_dir", "figures", "progress", "overwrite")
EXPECTED = {
    "rotation", "teacher-student", "slingshot", "degeneracy", "langevin-vs-sgd", "precision", "lr-sweep",
    "deep-linear",
}  # fmt: skip


def _available(name):
    module = REGISTRY[name][0]
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            return False
        raise
    return True


REGISTRY = cli.REPRODUCE


def test_registry_names():
    assert set(REGISTRY) == EXPECTED
    parser = cli.build_parser()
    args = parser.parse_args(["reproduce", "slingshot"])
    assert args.name == "slingshot" and not args.full and args.out is None
    with pytest.raises(SystemExit):
        parser.parse_args(["reproduce", "no-such-experiment"])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_registered_modules_follow_the_protocol(name):
    if not _available(name):
        with pytest.raises(ValueError, match="not available"):
            cli._experiment(name)
        pytest.skip(f"{REGISTRY[name][0]} is not installed yet")
    func, title, full = cli._experiment(name)
    params = inspect.signature(func).parameters
    for p in PROTOCOL:
        assert p in params, f"{name}: {func.__name__}() lacks the protocol argument {p!r}"
    small = cli._SMALL.get(name, {})
    for key in {**small, **(full or {})}:
        assert key in params, f"{name}: registered size argument {key!r} is not a parameter"
    assert isinstance(title, str) and title


def test_missing_module_is_a_clear_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(cli.REPRODUCE, "slingshot", ("fastland.experiments.not_there", "f", "Nothing", None))
    with pytest.raises(SystemExit) as exc:
        cli.main(["reproduce", "slingshot", "--out", str(tmp_path / "x")])
    assert exc.value.code == 2
    assert "not available" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_protocol_arguments_are_keyword_only_with_shared_defaults_and_words(name):
    from fastland.experiments import ExperimentResult

    func, _, _ = cli._experiment(name)
    params = inspect.signature(func).parameters
    defaults = {"seed": 0, "out_dir": None, "figures": False, "progress": False, "overwrite": False}
    for p, default in defaults.items():
        assert params[p].kind is inspect.Parameter.KEYWORD_ONLY, (name, p)
        assert params[p].default == default, (name, p)
    result_cls = inspect.signature(func).return_annotation
    if isinstance(result_cls, str):  # postponed annotations
        result_cls = getattr(importlib.import_module(func.__module__), result_cls)
    assert issubclass(result_cls, ExperimentResult) and result_cls.VERDICT_LABELS
    doc = inspect.getdoc(func)
    for words in (
        "Seeds every random draw of the experiment: the same seed and sizes give",
        "Replace these files in ``out_dir``. Without it a call whose files exist",
        "Report progress while running (progress bars, a line per phase).",
        f"``{result_cls.JSON_FILE}`` (``to_dict()``), ``report.md`` (``report()``)",
    ):
        assert words in doc, (name, words)


def test_reproduce_writes_report(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "lan"
    assert cli.main(["reproduce", "langevin-vs-sgd", "--out", str(out), "--seed", "1"]) == 0
    report = (out / "report.md").read_text()
    assert report.startswith("# SGD vs Langevin") and "**Verdict.**" in report
    names = {p.name for p in out.iterdir()}
    assert {"report.md", "langevin_vs_sgd.json", "samples.h5", "histogram_param0.png"} <= names
    assert "wrote" in capsys.readouterr().out
    # a non-empty folder is refused, and nothing in it is touched
    with pytest.raises(SystemExit):
        cli.main(["reproduce", "langevin-vs-sgd", "--out", str(out)])
    assert (out / "report.md").read_text() == report


def test_reproduce_older_experiment_gets_a_built_report(monkeypatch, tmp_path):
    # rotation at a tiny size through the command: its report is built from table() and verdict
    # (by the protocol's ExperimentResult.report(), the fixed-width table fenced as code)
    monkeypatch.setitem(cli._SMALL, "rotation", dict(chains=4, draws=60, thin=2, warmup=40, max_points=200))
    out = tmp_path / "rot"
    assert cli.main(["reproduce", "rotation", "--out", str(out), "--no-figures"]) == 0
    report = (out / "report.md").read_text()
    assert report.startswith("# Rotation experiment (seed 001)") and "```" in report and "**Verdict.**" in report
    assert Path(out / "rotation.json").exists()
