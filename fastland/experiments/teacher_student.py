"""Seed 004's teacher-student experiment: where do trained students end?

A teacher with four sigmoid neurons labels the seed's 41 x 41 grid; students of
widths 4-7 (``MLP(2, [m], 1, activation="sigmoid", loss="mse", bias=False)``)
are trained from ``runs`` random starts each. Every end point is refined to a
nearby critical point, classified from its exact Hessian
(:func:`fastland.critical.classify`, global minimum 0) and compared with the
teacher (:func:`fastland.symmetry.match_teacher`). The experiment reports how
many runs end in a strict saddle, a local minimum or a global minimum per
width, next to Şimşek et al.'s counts ``G(r, m)`` of symmetry-induced critical
subspaces.

Phases
------
1. **Training** (:func:`fastland.train`, all runs of a width in one compiled
   kernel). Default: Adam with lr 1e-2 for 200 steps, a *fast first phase*
   that picks a basin but does not converge; refinement does the rest. The
   seed trained with Adam at lr 1e-4; ask for that with ``lr=1e-4`` and a
   large ``steps`` (``fastland teacher-student --lr 1e-4 --steps 100000``).
   Measured for width 5 (64 runs, 100,000 steps): about 180 us of CPU per
   run and step, so 1000 runs x 4 widths x 10^5 steps is about 21 CPU-hours;
   after 10^5 steps 28 of 64 runs had ``|grad|_inf <= 1e-7``, the median loss
   was still falling (7e-8) and the runs on valleys had levelled off near
   1e-4. The two settings do not give the same distribution: on the same 64
   starts, 36 of 64 runs got the same outcome; the fast phase sends more runs
   to valleys and local minima near loss 1e-4.
2. **Refinement** to a critical point (``refine``):

   - ``"descent"`` (default), two stages, both batched over runs:
     (a) :func:`fastland.critical.refine` "newton" for 30 iterations from the
     training end points: where it converges, the run ended near that
     critical point, of whatever kind -- this is how strict saddles are
     counted (a minimiser would leave them; measured for 100 width-5 end
     points of the fast phase: Newton converged for 15, 14 of them strict
     saddles); (b) the other runs: :func:`fastland.critical.refine` "descent"
     (saddle-free Levenberg-Marquardt on the exact Hessian, ``refine_iter``
     iterations) with ``reduce=True``, which moves points still descending
     towards a split-neuron manifold (where the loss is quartic in the
     copies' spread and second-order steps converge only linearly) onto the
     exactly symmetric critical point that reduction, a Newton solve (or,
     where Newton does not converge, a descent) in the narrow network and
     the map back give, when that point is critical and its loss is not
     higher. The descent continues downhill from where
     training stopped, which need not be where a longer training would have
     ended (see above).
   - ``"newton"``: :func:`fastland.critical.refine` with Newton on
     ``grad U = 0``: the nearest critical point of any kind (saddles kept),
     but it converges only from close by (few Adam end points qualify).
   - ``"trust-exact"``, ``"slsqp"``, ``"bfgs"``: SciPy minimisers through
     :func:`fastland.critical.refine` with ``polish=True``, one point after
     another (about a second per point: far slower than ``"descent"``).
   - ``None``: classify the training end points as they are.
3. **Classification**: :func:`fastland.critical.classify` with
   ``global_loss=0.0``, on the refined points (``label``, ``margin``, ``level``:
   :meth:`TeacherStudentResult.level_table` tabulates saddles and minima by
   level per width next to ``G(m - level, m)``) and on
   the training end points (``trained_label``, ``trained_lambda_min``: the
   seed's chart of the smallest eigenvalue at Adam's end points).
4. **Teacher matching**: :func:`fastland.symmetry.match_teacher` at relative
   tolerance ``match_tol``.

Outcome per run (the counts the seed asks for)
----------------------------------------------
``outcome`` combines the label and the match:

- ``"global_min"``: label "global_min" -- the loss is zero to rounding, or
  (:func:`fastland.critical.classify`, step 6) the point cannot be told apart
  in float64 from an exactly symmetric zero-loss point found by reduction --
  or a critical point that realises the teacher (:func:`fastland.symmetry.match_teacher`,
  which reduces the student first: copies are merged, dead and cancelling
  neurons dropped). No loss threshold is used; :meth:`TeacherStudentResult.table`
  shows the largest loss of a global minimum next to the smallest loss of a
  local minimum. ``near_teacher`` records runs with the teacher's structure
  within the looser ``near_tol`` (information only).
- ``"local_min"``, ``"strict_saddle"``, ``"degenerate"``: the label, for
  other students.
- ``"not_converged"``: label "not_critical": refinement ran out of
  iterations. Two kinds dominate (the verdict counts them, split at a
  loss of 1e-6): runs on valleys to infinity, whose loss levels off near
  1e-4 while the largest outgoing weight keeps growing (``outgoing_growth``,
  the ratio of ``max_outgoing`` after and before refinement, is typically
  2-4 after 150 iterations and grows linearly with more), and runs still
  descending slowly towards a zero-loss manifold (loss 1e-15 to 1e-6)
  that no reduction of the end point leads to. Valleys are not a separate
  outcome: a window of descent with the outgoing weight growing and the
  loss decreasing monotonically does not prove one (some such runs later
  turn and descend to losses below 1e-7).
- ``"diverged"``: training produced non-finite values.

Initialisation
--------------
The seed does not say how students were initialised. Here every parameter
(incoming and outgoing) is drawn from a normal distribution with standard
deviation ``init_scale`` (default 1.0, the scale of the teacher's weights),
from ``numpy.random.default_rng([seed, m])`` for width ``m``.

Files (in ``out_dir``)
----------------------
``teacher_student.h5`` (h5py; readable without fastland)::

    /              attrs: format = "fastland.teacher_student", format_version,
                   fastland_version, settings (JSON) and each plain setting
    /data          X (point, feature), y (point): the grid and the teacher's labels
    /teacher       params (param,), W (neuron, 2), a (neuron,)
    /width_<m>     one group per width; attrs width, n_params, counts, outcome_counts, level_counts,
                   G, seconds, cpu_seconds (JSON) and the plain counts
        init, trained, points              (run, param)
        trained_loss, trained_grad_norm, trained_lambda_min, train_steps   (run,)
        loss, grad_norm, grad_ratio, lambda_min, margin, refine_iterations,
        converged, n_negative, n_zero, expected_null, level, max_outgoing,
        outgoing_growth                                                     (run,)
        eigenvalues                         (run, param): refined Hessian spectrum
        matched, near_teacher, match_deviation   (run,)
        match_teacher, match_sign           (run, neuron): teacher index (-1: none), sign
        train_status, refine_status, trained_label, label, match_kind, outcome
                                            (run,) fixed-length byte strings
        eps_sweep_<k>                       attrs run, source, start_loss; eps (eps,),
                                            directions (try, param), loss, lambda_min,
                                            grad_norm, margin (eps, try), label (eps, try) bytes

``summary.json``: settings, per-width counts, G, timings and the verdict;
``report.md``: the tables and the verdict;
figures (``figures=True``): ``eigenvalue_vs_loss_m<m>.png``,
``class_counts.png``, ``neurons_m<m>.png``, ``eps_sweep_m<m>.png``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import critical, symmetry
from .._outputs import save_figure
from .._validate import check_finite_array, check_int, check_positive
from ..data import teacher_student as _teacher_student_data
from ..landscape import Landscape
from ..train import OPTIMIZERS, train
from ._result import Check, ExperimentResult, Section, Verdict, check_seed, pick, protocol_doc, say

__all__ = ["OUTCOMES", "TeacherStudentResult", "WidthResult", "teacher_student"]

FORMAT_VERSION = 1
_FORMAT = "fastland.teacher_student"
#: the outcomes counted per width (see the module notes)
OUTCOMES = ("global_min", "local_min", "strict_saddle", "degenerate", "not_converged", "diverged")
#: outcomes tabulated by level
_LEVELLED = ("strict_saddle", "local_min", "global_min", "degenerate")
_REFINE = ("descent", "newton", "trust-exact", "slsqp", "bfgs")
_DEFAULT_ITER = {"descent": 150, "newton": 100}
# SciPy methods: critical.refine's default (1000)
_SADDLE_ITER = 30  # Newton iterations from the training end points (refine="descent")


# ------------------------------------------------------------------------------ results
@dataclass
class WidthResult:
    """Everything one student width produced (arrays have one row per run).

    Attributes
    ----------
    width : int
        Student width m (parameters p = 3 m: W (m x 2) then a (m)).
    init, trained, points : ndarray, shape (R, p)
        Starting points, training end points, refined points.
    trained_loss, trained_grad_norm : ndarray, shape (R,)
        Loss and gradient infinity norm at the training end points.
    trained_lambda_min : ndarray, shape (R,)
        Smallest Hessian eigenvalue at the training end points (the seed's chart).
    trained_label : ndarray of str, shape (R,)
        :func:`fastland.critical.classify` label of the training end points.
    train_steps : ndarray of int, shape (R,)
    train_status : ndarray of str, shape (R,)
        "converged" (``tol_grad`` met), "max_steps" or "diverged".
    loss, grad_norm, grad_ratio : ndarray, shape (R,)
        At the refined points (``grad_ratio <= 1``: critical within rounding).
    refine_status : ndarray of str, shape (R,)
    refine_iterations : ndarray of int, shape (R,)
    converged : ndarray of bool, shape (R,)
    label, margin : ndarray, shape (R,)
        :func:`fastland.critical.classify` (``global_loss=0.0``) of the refined points.
    lambda_min : ndarray, shape (R,)
        Smallest Hessian eigenvalue at the refined points.
    eigenvalues : ndarray, shape (R, p)
        Hessian spectrum at the refined points, ascending.
    n_negative, n_zero, expected_null : ndarray of int, shape (R,)
        From the classification.
    level : ndarray of int, shape (R,)
        Seed 004's level of the refined point (:func:`fastland.critical.classify`:
        the width :func:`fastland.symmetry.reduce` removes; -1 when not critical).
    max_outgoing : ndarray, shape (R,)
        Largest ``|a_j|`` of the refined point.
    outgoing_growth : ndarray, shape (R,)
        ``max_outgoing`` divided by the same at the training end point: well
        above 1 on valleys to infinity.
    matched : ndarray of bool, shape (R,)
        :func:`fastland.symmetry.match_teacher` at ``match_tol``.
    near_teacher : ndarray of bool, shape (R,)
        The same at the looser ``near_tol`` (True whenever ``matched``).
    match_kind : ndarray of str, shape (R,)
        "none" when not matched; else the neuron kinds present, joined by "+"
        ("teacher", "flipped", "extra", "constant"), with "split" added when a
        teacher neuron has several copies: "teacher" alone is the teacher up to
        a permutation. From the strict match, else the loose one.
    match_deviation : ndarray, shape (R,)
        The largest mismatch (weights' units) of the strict match, else of the
        loose one when that succeeded, else of the failed strict one.
    match_teacher, match_sign : ndarray, shape (R, m)
        Per student neuron: the teacher neuron it copies (-1: none) and +-1.
    outcome : ndarray of str, shape (R,)
        One of :data:`OUTCOMES` (module notes).
    counts : dict
        Runs per classification label (all of :data:`fastland.critical.LABELS`).
    outcome_counts : dict
        Runs per outcome (all of :data:`OUTCOMES`).
    level_counts : dict
        ``{outcome: {level: runs}}`` for "strict_saddle", "local_min",
        "global_min" and "degenerate" (levels that occur).
    G : dict
        ``{r: G(r, m)}`` for r = 1..4: symmetry-induced critical subspaces of
        a width-m student generated from a width-r critical point.
    sweeps : list of (int, str, EpsSweep)
        Eps sweeps: the run index, where the start came from ("refined
        saddle", "refined point, lambda_min < 0" or "trained end point") and
        the sweep (:class:`fastland.critical.EpsSweep`).
    seconds, cpu_seconds : dict
        Wall and process CPU time per phase ("training", "refinement",
        "classification", "sweep").
    """

    width: int
    init: np.ndarray
    trained: np.ndarray
    trained_loss: np.ndarray
    trained_grad_norm: np.ndarray
    trained_lambda_min: np.ndarray
    trained_label: np.ndarray
    train_steps: np.ndarray
    train_status: np.ndarray
    points: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray
    grad_ratio: np.ndarray
    refine_status: np.ndarray
    refine_iterations: np.ndarray
    converged: np.ndarray
    label: np.ndarray
    margin: np.ndarray
    lambda_min: np.ndarray
    eigenvalues: np.ndarray
    n_negative: np.ndarray
    n_zero: np.ndarray
    expected_null: np.ndarray
    level: np.ndarray
    max_outgoing: np.ndarray
    outgoing_growth: np.ndarray
    matched: np.ndarray
    near_teacher: np.ndarray
    match_kind: np.ndarray
    match_deviation: np.ndarray
    match_teacher: np.ndarray
    match_sign: np.ndarray
    outcome: np.ndarray
    counts: dict
    outcome_counts: dict
    level_counts: dict
    G: dict
    sweeps: list = field(default_factory=list)
    seconds: dict = field(default_factory=dict)
    cpu_seconds: dict = field(default_factory=dict)

    @property
    def runs(self) -> int:
        """Number of runs."""
        return int(self.init.shape[0])

    def loss_gap(self) -> tuple[float, float]:
        """(smallest loss of a "local_min", largest loss of a "global_min"); nan when there is none."""
        lo = self.loss[self.outcome == "local_min"]
        hi = self.loss[self.outcome == "global_min"]
        return (float(lo.min()) if lo.size else float("nan"), float(hi.max()) if hi.size else float("nan"))

    def example(self, outcome: str) -> int | None:
        """A run with this outcome whose incoming weights are smallest (fits a plot), or None."""
        idx = np.flatnonzero(self.outcome == outcome)
        if idx.size == 0:
            return None
        size = np.abs(self.points[idx, : 2 * self.width]).max(axis=1)
        return int(idx[np.argmin(np.where(np.isfinite(size), size, np.inf))])


@dataclass
class TeacherStudentResult(ExperimentResult):
    """Result of :func:`teacher_student`.

    Attributes
    ----------
    widths : list of WidthResult
        One per student width, in the order asked.
    teacher_params : ndarray, shape (12,)
        The teacher (W (4 x 2) then a (4)).
    seconds, cpu_seconds : dict
        Wall and process CPU time per phase, summed over widths, plus "total"
        (wall, including writing the data file and figures).

    The verdict (:meth:`assess`) is a factual summary of the counts; its label
    says how many runs the counts cover: "classified" when every run ended at
    a classified critical point, "partly_classified" when some did not
    converge or diverged, "unclassified" when none did. Settings, files and the
    rest of the protocol: :class:`~fastland.experiments.ExperimentResult`.
    """

    widths: list
    teacher_params: np.ndarray
    seconds: dict
    cpu_seconds: dict

    TITLE = "Teacher-student experiment (seed 004)"
    DATA_FILE = "teacher_student.h5"
    FORMAT = _FORMAT
    FORMAT_VERSION = FORMAT_VERSION
    JSON_FILE = "summary.json"
    VERDICT_LABELS = ("classified", "partly_classified", "unclassified")

    def __getitem__(self, width: int) -> WidthResult:
        return pick(self.widths, "width", width, "width")

    def table(self) -> str:
        """One row per width: outcome counts, matches, G(r, m) and the training end points' view."""
        head = (
            f"{'m':>2} {'runs':>5} {'global':>6} {'local':>6} {'saddle':>6} {'degen':>6} "
            f"{'not conv':>8} "
            f"{'diverged':>8} {'matched':>7} {'min L local':>11} {'max L glob':>10} {'lmin<0 @train':>13} "
            f"{'G(4,m)':>7} {'G(3,m)':>7} {'G(2,m)':>7}"
        )
        rows = [head]
        for w in self.widths:
            c = w.outcome_counts
            neg = int(np.count_nonzero(w.trained_lambda_min < 0))
            rows.append(
                f"{w.width:>2} {w.runs:>5} {c['global_min']:>6} {c['local_min']:>6} "
                f"{c['strict_saddle']:>6} "
                f"{c['degenerate']:>6} {c['not_converged']:>8} {c['diverged']:>8} {int(w.matched.sum()):>7} "
                f"{_fmt(w.loss_gap()[0]):>11} {_fmt(w.loss_gap()[1]):>10} "
                f"{neg:>13} {w.G[4]:>7} {w.G[3]:>7} {w.G[2]:>7}"
            )
        return "\n".join(rows)

    def level_table(self) -> str:
        """Saddles and minima by level per width, next to G(m - level, m).

        Level l: the critical point reduces to a width ``m - l`` network
        (:func:`fastland.symmetry.reduce`); ``G(m - l, m)`` counts the
        symmetry-induced critical subspaces a width-``(m - l)`` critical point
        generates in the width-m network (seed 004's comparison).
        """
        levels = sorted({lv for w in self.widths for k in _LEVELLED for lv in w.level_counts[k]})
        head = f"{'m':>2} {'level':>5} " + " ".join(f"{k:>13}" for k in _LEVELLED) + f" {'G(m-l,m)':>9}"
        rows = [head]
        for w in self.widths:
            for lv in levels:
                counts = [w.level_counts[k].get(lv, 0) for k in _LEVELLED]
                g = symmetry.G(w.width - lv, w.width) if 0 <= lv < w.width else 0
                rows.append(f"{w.width:>2} {lv:>5} " + " ".join(f"{n:>13}" for n in counts) + f" {g:>9}")
        return "\n".join(rows)

    def timings(self) -> str:
        """Wall (CPU) seconds per phase and width."""
        phases = ("training", "refinement", "classification", "sweep")
        rows = [f"{'m':>2} " + " ".join(f"{p:>20}" for p in phases)]
        for w in self.widths:
            rows.append(
                f"{w.width:>2} "
                + " ".join(f"{w.seconds.get(p, 0.0):>9.1f} ({w.cpu_seconds.get(p, 0.0):>7.1f} cpu)" for p in phases)
            )
        rows.append(f"total wall {self.seconds.get('total', float('nan')):.1f} s")
        return "\n".join(rows)

    def sections(self) -> list[Section]:
        """The level table and the timings."""
        return [
            Section("Critical points by level (width lost to a symmetry):", self.level_table(), preformatted=True),
            Section("Timings (wall seconds per phase):", self.timings(), preformatted=True),
        ]

    def _intro(self) -> str:
        s = self.settings
        return (
            f"Students of widths {', '.join(map(str, s['widths']))} on the teacher's {s['n_points']} points, "
            f"{s['runs']} runs per width: {_method(s)}"
        )

    def _summary(self) -> dict:
        """The per-width counts (no per-run arrays)."""
        out = {"seconds": self.seconds, "cpu_seconds": self.cpu_seconds, "widths": []}
        for w in self.widths:
            out["widths"].append(
                {
                    "width": w.width,
                    "runs": w.runs,
                    "counts": w.counts,
                    "outcome_counts": w.outcome_counts,
                    "matched": int(w.matched.sum()),
                    "near_teacher": int(w.near_teacher.sum()),
                    "level_counts": {k: {str(lv): n for lv, n in v.items()} for k, v in w.level_counts.items()},
                    "match_kinds": _tally(w.match_kind[w.matched]),
                    "trained_lambda_min_negative": int(np.count_nonzero(w.trained_lambda_min < 0)),
                    "trained_labels": _tally(w.trained_label),
                    "refine_status": _tally(w.refine_status),
                    "G": {str(k): v for k, v in w.G.items()},
                    "loss_quantiles": _quantiles(w.loss),
                    "min_loss_local_min": w.loss_gap()[0],
                    "max_loss_global_min": w.loss_gap()[1],
                    "sweeps": [
                        {
                            "run": i,
                            "source": src,
                            "start_loss": s.start_loss,
                            "eps": s.eps.tolist(),
                            "escaped": s.escaped().tolist(),
                            "median_loss": np.median(s.loss, axis=1).tolist(),
                        }
                        for i, src, s in w.sweeps
                    ],
                    "seconds": w.seconds,
                    "cpu_seconds": w.cpu_seconds,
                }
            )
        return out

    def assess(self) -> Verdict:
        """The verdict: the counts per width, and how many runs they cover (class notes)."""
        st = self.settings
        total = sum(w.runs for w in self.widths)
        count = {k: sum(w.outcome_counts[k] for w in self.widths) for k in OUTCOMES}
        classified = total - count["not_converged"] - count["diverged"]
        matched = sum(int(w.matched.sum()) for w in self.widths)
        if classified == total:
            label, word = "classified", "Classified"
        elif classified:
            label, word = "partly_classified", "Partly classified"
        else:
            label, word = "unclassified", "Unclassified"
        headline = (
            f"{word}: {classified} of {total} runs ended at a classified critical point; {count['global_min']} "
            f"reached a global minimum ({matched} realise the teacher), {count['local_min']} a local minimum, "
            f"{count['strict_saddle']} a strict saddle."
        )
        evidence = [_method(st)]
        for w in self.widths:
            evidence += _width_lines(w, st)
        checks = (
            Check("classified", "runs that ended at a classified critical point", classified == total, classified,
                  total, "=="),
            Check("diverged", "runs whose training diverged", count["diverged"] == 0, count["diverged"], 0, "=="),
        )  # fmt: skip
        caveats = []
        if st["lr"] != 1e-4 or st["optimizer"] != "adam":
            caveats.append(
                "the seed trained with Adam at lr 1e-4; this run used a faster first phase "
                f"({st['optimizer']}, lr {st['lr']:g}, up to {st['steps']} steps), which sends more runs to valleys "
                "and local minima (module notes)"
            )
        if count["not_converged"]:
            caveats.append(
                f"{count['not_converged']} runs did not converge within {st['refine_iter']} refinement iterations "
                "(valleys to infinity or slow descents, above): the counts describe the others"
            )
        settings = {k: st[k] for k in ("optimizer", "lr", "steps", "refine", "refine_iter", "match_tol", "near_tol")}
        settings |= {"global_loss": st["global_loss"], "valley_loss": _VALLEY_LOSS}
        return Verdict(label, headline, tuple(evidence), checks, tuple(caveats), settings)


def _fmt(x: float) -> str:
    return "-" if not np.isfinite(x) else f"{x:.2g}"


def _tally(values) -> dict:
    names, counts = np.unique(np.asarray(values).astype(str), return_counts=True)
    return {str(n): int(c) for n, c in zip(names, counts, strict=True)}


def _quantiles(x) -> dict:
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return {}
    q = np.quantile(x, [0.0, 0.25, 0.5, 0.75, 1.0])
    return {k: float(v) for k, v in zip(("min", "q25", "median", "q75", "max"), q, strict=True)}


# ------------------------------------------------------------------------ refinement
def _newton_then_descent(land: Landscape, points: np.ndarray, max_iter: int) -> critical.RefineResult:
    """refine="descent": the critical point the training ended near, else the minimum below it.

    1. :func:`fastland.critical.refine` "newton" (``_SADDLE_ITER`` iterations) from the
       end points: where it converges, the run ended near that critical point,
       whatever its kind (this is how strict saddles are found; a minimiser
       would leave them);
    2. the other points: "descent" (``max_iter``) with ``reduce=True``.
    """
    out = critical.refine(land, points, method="newton", max_iter=_SADDLE_ITER)
    out.status = out.status.astype(object)
    first = out
    rest = np.flatnonzero(~first.converged)
    if rest.size:
        second = critical.refine(land, points[rest], method="descent", max_iter=max_iter, reduce=True)
        for f in ("points", "loss", "grad_norm", "grad_tol", "grad_ratio", "converged"):
            getattr(out, f)[rest] = getattr(second, f)
        out.iterations[rest] += second.iterations
        out.status[rest] = second.status
    out.status = out.status.astype(str)
    out.method = "descent"
    return out


# --------------------------------------------------------------------------- helpers
class _Clock:
    """Wall and process-CPU time of one phase."""

    def __enter__(self):
        self.t0, self.c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.t0
        self.cpu = time.process_time() - self.c0
        return False


def _match_summary(m: symmetry.TeacherMatch) -> str:
    if not m.matched:
        return "none"
    kinds = [k for k in ("teacher", "flipped", "extra", "constant") if k in m.kind]
    t = m.teacher[m.teacher >= 0]
    if t.size and np.bincount(t).max() > 1:
        kinds.append("split")
    return "+".join(kinds)


def _outcomes(label: np.ndarray, matched: np.ndarray, finite: np.ndarray) -> np.ndarray:
    out = label.astype(object).copy()
    out[label == "not_critical"] = "not_converged"
    out[matched & (label != "not_critical")] = "global_min"
    out[label == "global_min"] = "global_min"
    out[~finite] = "diverged"
    return out.astype(str)


def _check_widths(widths) -> list[int]:
    try:
        ws = [check_int("widths", w, 1) for w in widths]
    except TypeError:
        raise ValueError(f"widths: expected a sequence of student widths >= 1, got {widths!r}") from None
    if not ws or len(set(ws)) != len(ws):
        raise ValueError(f"widths: expected one or more distinct widths, got {widths!r}")
    return ws


def _check_init(init, widths: list[int], runs: int) -> dict:
    if init is None:
        return {}
    if not isinstance(init, dict):
        raise ValueError(f"init: expected a dict width -> array (runs, 3 * width), got {type(init).__name__}")
    out = {}
    for m, arr in init.items():
        if m not in widths:
            raise ValueError(f"init: width {m!r} is not in widths {widths}")
        a = check_finite_array(f"init[{m}]", arr, 2)
        if a.shape != (runs, 3 * m):
            raise ValueError(f"init[{m}]: expected shape ({runs}, {3 * m}), got {a.shape}")
        out[m] = a
    return out


def _bytes(values) -> np.ndarray:
    s = np.asarray(values).astype(str)
    n = max(1, max((len(x) for x in s.ravel()), default=1))
    return s.astype(f"S{n}")


# ------------------------------------------------------------------------ experiment
@protocol_doc(TeacherStudentResult, seed="It draws the starts (per width) and the sweeps' directions.")
def teacher_student(
    widths=(4, 5, 6, 7),
    runs: int = 1000,
    optimizer: str = "adam",
    lr: float = 1e-2,
    steps: int = 200,
    init_scale: float = 1.0,
    tol_grad: float | None = 1e-7,
    refine: str | None = "descent",
    refine_iter: int | None = None,
    match_tol: float = 1e-4,
    near_tol: float = 3e-2,
    eps=(1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0),
    sweep_points: int = 1,
    sweep_tries: int = 4,
    init: dict | None = None,
    *,
    seed: int = 0,
    out_dir: str | Path | None = None,
    figures: bool = False,
    progress: bool = False,
    overwrite: bool = False,
    log=None,
) -> TeacherStudentResult:
    """Run seed 004's teacher-student experiment.

    Parameters
    ----------
    widths : sequence of int, default (4, 5, 6, 7)
        Student widths m.
    runs : int, default 1000
        Training runs per width (the seed's 1000).
    optimizer : str, default "adam"
        Any optimiser of :func:`fastland.train` ("adam", "gd", "sam", ...).
    lr : float, default 1e-2
        Learning rate. The default is a fast first phase; **the seed used Adam
        with lr 1e-4**: pass ``lr=1e-4`` with ``steps`` large enough to converge
        (order 10^5; the module notes give the measured cost and how the
        outcomes differ).
    steps : int, default 200
        Maximum training steps per run.
    init_scale : float, default 1.0
        Standard deviation of the normal distribution every student parameter
        (incoming and outgoing weights) is drawn from; width m uses
        ``numpy.random.default_rng([seed, m])``.
    tol_grad : float or None, default 1e-7
        Training stops a run once its gradient's infinity norm is below this.
    refine : {"descent", "newton", "trust-exact", "slsqp", "bfgs"} or None
        How end points are refined to critical points (module notes);
        "descent" (default) is batched and fast; None classifies the training
        end points as they are.
    refine_iter : int, optional
        Iterations of the refinement (default 150 for "descent", 100 for "newton",
        SciPy's 1000 for the others).
    match_tol : float, default 1e-4
        Relative tolerance of :func:`fastland.symmetry.match_teacher`: a match
        makes the outcome "global_min".
    near_tol : float, default 3e-2
        Looser relative tolerance of a second match (``near_teacher``), for
        information.
    eps : sequence of float
        Perturbation sizes of the eps sweeps (empty: no sweeps).
    sweep_points : int, default 1
        Points per width given an eps sweep: refined strict saddles first
        (largest margin), then refined points that are not minima but have a
        negative smallest eigenvalue (most negative first: the seed's
        candidates, points whose negative eigenvalue might be numerical), then
        training end points.
    sweep_tries : int, default 4
        Random directions per eps (shared by all eps).
    init : dict, optional
        ``{width: array (runs, 3 * width)}`` to replace the random starts of a
        width (for example the teacher itself).
    {protocol}
    log : callable, optional
        Receives the line per phase that ``progress`` prints.

    Returns
    -------
    TeacherStudentResult

    Examples
    --------
    >>> from fastland.experiments import teacher_student
    >>> res = teacher_student(widths=(4,), runs=4, steps=50)                # doctest: +SKIP
    >>> print(res.table())                                                  # doctest: +SKIP
    """
    t_start = time.perf_counter()
    ws = _check_widths(widths)
    runs = check_int("runs", runs, 1)
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer: expected one of {', '.join(map(repr, OPTIMIZERS))}, got {optimizer!r}")
    lr = check_positive("lr", lr)
    steps = check_int("steps", steps, 1)
    init_scale = check_positive("init_scale", init_scale)
    if tol_grad is not None:
        tol_grad = check_positive("tol_grad", tol_grad, allow_zero=True)
    if refine is not None and refine not in _REFINE:
        raise ValueError(f"refine: expected one of {', '.join(map(repr, _REFINE))} or None, got {refine!r}")
    if refine_iter is not None:
        refine_iter = check_int("refine_iter", refine_iter, 1)
    match_tol = check_positive("match_tol", match_tol)
    near_tol = check_positive("near_tol", near_tol)
    eps_arr = np.asarray(eps, dtype=float).ravel() if eps is not None else np.zeros(0)
    if eps_arr.size and (not np.all(np.isfinite(eps_arr)) or np.any(eps_arr <= 0)):
        raise ValueError(f"eps: expected perturbation sizes > 0, got {eps!r}")
    sweep_points = check_int("sweep_points", sweep_points, 0)
    sweep_tries = check_int("sweep_tries", sweep_tries, 1)
    seed = check_seed(seed)
    given = _check_init(init, ws, runs)
    log = say(progress, log)
    # every figure this call may write (some only when a width has such points)
    figs = [f"{kind}_m{m}.png" for m in ws for kind in ("eigenvalue_vs_loss", "neurons", "eps_sweep")]
    out = TeacherStudentResult.claim(out_dir, figures, overwrite, figure_names=[*figs, "class_counts.png"])

    ts = _teacher_student_data()
    n_iter = refine_iter if refine_iter is not None else _DEFAULT_ITER.get(refine)
    settings = {
        "widths": ws,
        "runs": runs,
        "optimizer": optimizer,
        "lr": lr,
        "steps": steps,
        "init_scale": init_scale,
        "init": "normal(0, init_scale) for every parameter, rng default_rng([seed, width])",
        "tol_grad": tol_grad,
        "refine": refine,
        "refine_iter": n_iter,
        "match_tol": match_tol,
        "near_tol": near_tol,
        "saddle_iter": _SADDLE_ITER,
        "eps": eps_arr.tolist(),
        "sweep_points": sweep_points,
        "sweep_tries": sweep_tries,
        "seed": seed,
        "given_starts": sorted(given),
        "global_loss": 0.0,
        "n_points": int(ts.data.n),
    }
    results: list[WidthResult] = []
    for m in ws:
        results.append(_one_width(ts, m, runs, given.get(m), settings, eps_arr, progress, log))

    seconds = {
        ph: float(sum(w.seconds.get(ph, 0.0) for w in results))
        for ph in ("training", "refinement", "classification", "sweep")
    }
    cpu = {ph: float(sum(w.cpu_seconds.get(ph, 0.0) for w in results)) for ph in seconds}
    result = TeacherStudentResult(
        widths=results,
        teacher_params=np.asarray(ts.teacher_params).copy(),
        settings=settings,
        seconds=seconds,
        cpu_seconds=cpu,
    )
    if out is not None:
        with result.data_file(out, overwrite) as f:
            _fill_h5(f, result, ts)
        if figures:
            result.files.extend(_figures(result, ts, out, overwrite))
    result.seconds["total"] = time.perf_counter() - t_start
    if out is not None:
        result.write(out, overwrite)
        log(f"done in {result.seconds['total']:.1f} s: {len(result.files)} files in {out}/")
    return result


def _one_width(ts, m: int, runs: int, given, settings: dict, eps_arr: np.ndarray, progress: bool, log) -> WidthResult:
    net = ts.student(m)
    land = Landscape(net, ts.data)
    p = net.n_params
    seed = settings["seed"]
    if given is None:
        starts = np.random.default_rng([seed, m]).normal(0.0, settings["init_scale"], size=(runs, p))
    else:
        starts = given.copy()
    sec, cpu = {}, {}

    log(
        f"m={m}: training {runs} runs ({settings['optimizer']}, lr {settings['lr']:g}, up to {settings['steps']} steps)"
    )
    with _Clock() as ck:
        fit = train(
            land,
            starts,
            optimizer=settings["optimizer"],
            lr=settings["lr"],
            steps=settings["steps"],
            seed=seed,
            tol_grad=settings["tol_grad"],
            progress=progress,
        )
    sec["training"], cpu["training"] = ck.wall, ck.cpu
    trained = fit.params.copy()
    finite = np.isfinite(trained).all(axis=1) & np.isfinite(fit.loss)
    fin = np.flatnonzero(finite)
    log(
        f"m={m}: trained in {ck.wall:.1f} s (cpu {ck.cpu:.1f} s); median loss {np.median(fit.loss[fin]):.3g}"
        if fin.size
        else f"m={m}: every run diverged"
    )

    # refinement
    method, n_iter = settings["refine"], settings["refine_iter"]
    points = trained.copy()
    R = runs
    refine_status = np.full(R, "none" if method is None else "diverged", dtype=object)
    refine_iters = np.zeros(R, dtype=np.int64)
    with _Clock() as ck:
        if method is not None and fin.size:
            if method == "descent":
                rr = _newton_then_descent(land, trained[fin], n_iter)
            elif method == "newton":
                rr = critical.refine(land, trained[fin], method="newton", max_iter=n_iter)
            else:
                rr = critical.refine(land, trained[fin], method=method, polish=True, max_iter=n_iter, reduce=True)
            points[fin] = np.atleast_2d(rr.points)
            refine_status[fin] = np.atleast_1d(rr.status)
            refine_iters[fin] = np.atleast_1d(rr.iterations)
        elif method is None:
            refine_status[~finite] = "diverged"
    sec["refinement"], cpu["refinement"] = ck.wall, ck.cpu
    if method is not None:
        log(
            f"m={m}: refined ({method}) in {ck.wall:.1f} s (cpu {ck.cpu:.1f} s); "
            + ", ".join(f"{k} {v}" for k, v in _tally(refine_status).items())
        )

    # classification and matching
    nanv = np.full(R, np.nan)
    loss, gnorm, gratio, margin, lmin = nanv.copy(), nanv.copy(), nanv.copy(), nanv.copy(), nanv.copy()
    eig = np.full((R, p), np.nan)
    label = np.full(R, "not_critical", dtype=object)
    n_neg = np.zeros(R, dtype=np.int64)
    n_zero = np.zeros(R, dtype=np.int64)
    exp_null = np.zeros(R, dtype=np.int64)
    level = np.full(R, -1, dtype=np.int64)
    t_label = np.full(R, "not_critical", dtype=object)
    t_lmin = nanv.copy()
    matched = np.zeros(R, dtype=bool)
    near = np.zeros(R, dtype=bool)
    kind = np.full(R, "none", dtype=object)
    dev = nanv.copy()
    mt = np.full((R, m), -1, dtype=np.int64)
    ms = np.ones((R, m))
    with _Clock() as ck:
        if fin.size:
            c = critical.classify(land, points[fin], global_loss=0.0)
            loss[fin], gnorm[fin], gratio[fin], margin[fin] = c.loss, c.grad_norm, c.grad_ratio, c.margin
            eig[fin] = c.eigenvalues
            lmin[fin] = c.eigenvalues[:, 0]
            label[fin] = c.label
            n_neg[fin], n_zero[fin], exp_null[fin] = c.n_negative, c.n_zero, c.expected_null
            level[fin] = c.level
            if method is None:
                t_label[fin], t_lmin[fin] = c.label, c.eigenvalues[:, 0]
            else:
                ct = critical.classify(land, trained[fin], global_loss=0.0)
                t_label[fin], t_lmin[fin] = ct.label, ct.eigenvalues[:, 0]
            for i in fin:
                r = symmetry.match_teacher(points[i], ts.teacher_params, tol=settings["match_tol"])
                matched[i] = near[i] = r.matched
                if not r.matched and settings["near_tol"] > settings["match_tol"]:
                    r2 = symmetry.match_teacher(points[i], ts.teacher_params, tol=settings["near_tol"])
                    if r2.matched:
                        near[i], r = True, r2
                kind[i] = _match_summary(r)
                dev[i] = r.deviation
                mt[i] = r.teacher
                ms[i] = r.sign
    sec["classification"], cpu["classification"] = ck.wall, ck.cpu
    label = label.astype(str)
    outcome = _outcomes(label, matched, finite)
    counts = {k: int(np.count_nonzero(label[finite] == k)) for k in critical.LABELS}
    outcome_counts = {k: int(np.count_nonzero(outcome == k)) for k in OUTCOMES}
    level_counts = {
        k: {int(a): int(n) for a, n in zip(*np.unique(level[outcome == k], return_counts=True), strict=True)}
        for k in _LEVELLED
    }
    amax = np.abs(points[:, 2 * m :]).max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        growth = amax / np.abs(trained[:, 2 * m :]).max(axis=1)
    log(
        f"m={m}: classified in {ck.wall:.1f} s (cpu {ck.cpu:.1f} s); "
        + ", ".join(f"{k} {v}" for k, v in outcome_counts.items() if v)
    )

    # eps sweeps
    sweeps = []
    with _Clock() as ck:
        if eps_arr.size and settings["sweep_points"] and fin.size:
            for i, source in _sweep_candidates(label, margin, lmin, t_lmin, finite, settings["sweep_points"]):
                w0 = trained[i] if source == "trained end point" else points[i]
                sseed = seed + 1000 * m + i
                how = "descent" if method in (None, "descent") else method
                s = critical.eps_sweep(
                    land, w0, eps=eps_arr, tries=settings["sweep_tries"], seed=sseed, method=how, global_loss=0.0
                )
                sweeps.append((int(i), source, s))
    sec["sweep"], cpu["sweep"] = ck.wall, ck.cpu
    if sweeps:
        log(f"m={m}: eps sweep of {len(sweeps)} point(s) in {ck.wall:.1f} s")
    return WidthResult(
        width=m,
        init=starts,
        trained=trained,
        trained_loss=fit.loss,
        trained_grad_norm=fit.grad_norm,
        trained_lambda_min=t_lmin,
        trained_label=t_label.astype(str),
        train_steps=fit.steps,
        train_status=np.asarray(fit.status).astype(str),
        points=points,
        loss=loss,
        grad_norm=gnorm,
        grad_ratio=gratio,
        refine_status=refine_status.astype(str),
        refine_iterations=refine_iters,
        converged=gratio <= 1.0,
        label=label,
        margin=margin,
        lambda_min=lmin,
        eigenvalues=eig,
        n_negative=n_neg,
        n_zero=n_zero,
        expected_null=exp_null,
        level=level,
        max_outgoing=amax,
        outgoing_growth=growth,
        matched=matched,
        near_teacher=near,
        match_kind=kind.astype(str),
        match_deviation=dev,
        match_teacher=mt,
        match_sign=ms,
        outcome=outcome,
        counts=counts,
        outcome_counts=outcome_counts,
        level_counts=level_counts,
        G={r: symmetry.G(r, m) for r in range(1, 5)},
        sweeps=sweeps,
        seconds=sec,
        cpu_seconds=cpu,
    )


def _sweep_candidates(label, margin, lmin, t_lmin, finite, k: int) -> list[tuple[int, str]]:
    saddles = np.flatnonzero(label == "strict_saddle")
    saddles = saddles[np.argsort(-margin[saddles])]
    out = [(int(i), "refined saddle") for i in saddles[:k]]
    for values, source in ((lmin, "refined point, lambda_min < 0"), (t_lmin, "trained end point")):
        if len(out) >= k:
            break
        neg = np.flatnonzero(
            finite & (values < 0) & np.isin(label, ("not_critical", "degenerate", "strict_saddle"))
            if source != "trained end point"
            else finite & (values < 0)
        )
        neg = neg[np.argsort(values[neg])]
        taken = {i for i, _ in out}
        out += [(int(i), source) for i in neg if int(i) not in taken][: k - len(out)]
    return out


#: the loss that splits the runs that did not converge into valleys (above) and slow descents
_VALLEY_LOSS = 1e-6


def _method(st: dict) -> str:
    """How the students were trained, refined, classified and matched (one sentence)."""
    return (
        f"students trained with {st['optimizer']} (lr {st['lr']:g}, up to {st['steps']} steps), "
        + (f"refined by {st['refine']}" if st["refine"] else "not refined")
        + ", classified from the exact Hessian (global minimum 0) and matched to the teacher "
        f"(relative tolerance {st['match_tol']:g})."
    )


def _width_lines(w: WidthResult, st: dict) -> list[str]:
    """The verdict's evidence for one width: counts, the runs that did not converge, levels, end points."""
    m, c = w.width, w.outcome_counts
    kinds = _tally(w.match_kind[w.matched])
    near = int(np.count_nonzero(w.near_teacher & ~w.matched))
    lines = [
        f"m={m}, {w.runs} runs: global minimum {c['global_min']} ({int(w.matched.sum())} realise the teacher"
        + (f": {', '.join(f'{k} {v}' for k, v in kinds.items())}" if kinds else "")
        + f"; {near} more have its structure within {st['near_tol']:g}), local minimum {c['local_min']}, "
        f"strict saddle {c['strict_saddle']}, degenerate {c['degenerate']}, not converged {c['not_converged']}"
        + (f", diverged {c['diverged']}" if c["diverged"] else "")
        + f"; G(4,{m}) = {w.G[4]}, G(3,{m}) = {w.G[3]}, G(2,{m}) = {w.G[2]}"
    ]
    sel = w.outcome == "not_converged"
    if sel.any():
        hi, lo = sel & (w.loss > _VALLEY_LOSS), sel & (w.loss <= _VALLEY_LOSS)
        parts = []
        if hi.any():
            parts.append(
                f"{int(hi.sum())} with loss > 1e-6 (median {np.median(w.loss[hi]):.2g}) whose largest "
                f"outgoing weight grew by a median factor {np.nanmedian(w.outgoing_growth[hi]):.2g} during "
                "refinement: valleys to infinity"
            )
        if lo.any():
            parts.append(
                f"{int(lo.sum())} with loss <= 1e-6 (median {np.median(w.loss[lo]):.2g}, outgoing "
                f"growth {np.nanmedian(w.outgoing_growth[lo]):.2g}): still descending"
            )
        neg = int(np.count_nonzero(w.lambda_min[sel] < 0))
        lines.append(f"m={m} not converged: " + "; ".join(parts) + f"; {neg} with a negative smallest eigenvalue")
    lo, hi = w.loss_gap()
    if np.isfinite(lo) and np.isfinite(hi):
        lines.append(
            f"m={m} loss gap: smallest local-minimum loss {lo:.2g} vs largest global-minimum loss {hi:.2g}"
            + (" (overlap)" if hi >= lo else "")
        )
    lv = {k: v for k, v in w.level_counts.items() if v}
    if lv:
        lines.append(
            f"m={m} by level: "
            + "; ".join(f"{k} " + ", ".join(f"level {a}: {n}" for a, n in sorted(v.items())) for k, v in lv.items())
        )
    if st["refine"] is not None:
        neg = w.trained_lambda_min < 0
        ended = _tally(w.outcome[neg]) if neg.any() else {}
        lines.append(
            f"m={m} training end points: {int(neg.sum())} had a negative smallest eigenvalue"
            + (f"; they ended as {', '.join(f'{k} {v}' for k, v in ended.items())}" if ended else "")
        )
    return lines


# ------------------------------------------------------------------------------ files
def _fill_h5(f, result: TeacherStudentResult, ts) -> None:
    for k, v in result.settings.items():
        if isinstance(v, str):
            f.attrs[k] = v
        elif isinstance(v, bool):
            f.attrs[k] = np.bool_(v)
        elif isinstance(v, int):
            f.attrs[k] = np.int64(v)
        elif isinstance(v, float):
            f.attrs[k] = np.float64(v)
    f.attrs["widths"] = np.asarray(result.settings["widths"], dtype=np.int64)
    d = f.create_group("data")
    d.create_dataset("X", data=np.asarray(ts.data.X))
    d.create_dataset("y", data=np.asarray(ts.data.y))
    t = f.create_group("teacher")
    (W, _), (A, _) = ts.teacher.unflatten(np.asarray(ts.teacher_params))
    t.create_dataset("params", data=np.asarray(ts.teacher_params))
    t.create_dataset("W", data=W)
    t.create_dataset("a", data=A[0])
    t.attrs["model"] = json.dumps(ts.teacher.spec())
    for w in result.widths:
        g = f.create_group(f"width_{w.width}")
        g.attrs["width"] = np.int64(w.width)
        g.attrs["n_params"] = np.int64(w.init.shape[1])
        g.attrs["model"] = json.dumps(ts.student(w.width).spec())
        g.attrs["counts"] = json.dumps(w.counts)
        g.attrs["outcome_counts"] = json.dumps(w.outcome_counts)
        g.attrs["level_counts"] = json.dumps({k: {str(a): n for a, n in v.items()} for k, v in w.level_counts.items()})
        g.attrs["G"] = json.dumps({str(k): v for k, v in w.G.items()})
        g.attrs["seconds"] = json.dumps(w.seconds)
        g.attrs["cpu_seconds"] = json.dumps(w.cpu_seconds)
        for k, v in w.outcome_counts.items():
            g.attrs[f"n_{k}"] = np.int64(v)
        for name in (
            "init",
            "trained",
            "points",
            "trained_loss",
            "trained_grad_norm",
            "trained_lambda_min",
            "train_steps",
            "loss",
            "grad_norm",
            "grad_ratio",
            "lambda_min",
            "margin",
            "refine_iterations",
            "converged",
            "n_negative",
            "n_zero",
            "expected_null",
            "level",
            "max_outgoing",
            "outgoing_growth",
            "eigenvalues",
            "matched",
            "near_teacher",
            "match_deviation",
            "match_teacher",
            "match_sign",
        ):
            g.create_dataset(name, data=np.asarray(getattr(w, name)))
        for name in ("train_status", "refine_status", "trained_label", "label", "match_kind", "outcome"):
            g.create_dataset(name, data=_bytes(getattr(w, name)))
        for k, (i, source, s) in enumerate(w.sweeps):
            sg = g.create_group(f"eps_sweep_{k}")
            sg.attrs["run"] = np.int64(i)
            sg.attrs["source"] = source
            sg.attrs["start_loss"] = np.float64(s.start_loss)
            for name in ("eps", "directions", "loss", "lambda_min", "grad_norm", "margin"):
                sg.create_dataset(name, data=np.asarray(getattr(s, name)))
            sg.create_dataset("label", data=_bytes(s.label))


def _figures(result: TeacherStudentResult, ts, out: Path, overwrite: bool) -> list[str]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from .. import plot

    files = []
    (TW, _), (TA, _) = ts.teacher.unflatten(np.asarray(ts.teacher_params))
    for w in result.widths:
        ok = np.isfinite(w.loss) & np.isfinite(w.lambda_min)
        okt = np.isfinite(w.trained_loss) & np.isfinite(w.trained_lambda_min)
        if ok.any() or okt.any():
            fig = Figure(figsize=(12.4, 4.8), layout="constrained")
            FigureCanvasAgg(fig)
            panels = (
                (okt, w.trained_lambda_min, w.trained_loss, "training end points (colour: final outcome)"),
                (ok, w.lambda_min, w.loss, "after refinement"),
            )
            for ax, (sel, lmin, loss, what) in zip(fig.subplots(1, 2), panels, strict=True):
                if sel.any():
                    lv = np.maximum(loss[sel], 0.0)
                    plot.eigenvalue_vs_loss(lmin[sel], lv, labels=w.outcome[sel], ax=ax, title=f"m={w.width}: {what}")
            p = out / f"eigenvalue_vs_loss_m{w.width}.png"
            save_figure(fig, p, overwrite=overwrite, argname="out_dir", dpi=plot.DPI)
            files.append(str(p))
        present = [k for k in OUTCOMES if w.example(k) is not None]
        if present:
            fig = Figure(figsize=(5.0 * len(present), 4.6), layout="constrained")
            FigureCanvasAgg(fig)
            axes = np.atleast_1d(fig.subplots(1, len(present)))
            for ax, k in zip(axes, present, strict=True):
                i = w.example(k)
                (SW, _), (SA, _) = ts.student(w.width).unflatten(w.points[i])
                if not (np.all(np.isfinite(SW)) and np.all(np.isfinite(SA))):
                    continue
                plot.neurons(
                    SW, TW, SA[0], TA[0], ax=ax, mirror=True, title=f"m={w.width} {k} (run {i}, loss {w.loss[i]:.2g})"
                )
            p = out / f"neurons_m{w.width}.png"
            save_figure(fig, p, overwrite=overwrite, argname="out_dir", dpi=plot.DPI)
            files.append(str(p))
        if w.sweeps:
            i, source, s = w.sweeps[0]
            p = out / f"eps_sweep_m{w.width}.png"
            plot.eps_sweep(
                s, path=p, overwrite=overwrite, title=f"m={w.width}: perturb and refine from run {i} ({source})"
            )
            files.append(str(p))
    p = out / "class_counts.png"
    plot.class_counts(
        {w.width: w.outcome_counts for w in result.widths},
        path=p,
        overwrite=overwrite,
        title="Where the students end, per width",
    )
    files.append(str(p))
    return files
