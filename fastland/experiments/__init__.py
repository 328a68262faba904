"""Seed experiments: one module each, a function returning a result object.

Every result derives from :class:`ExperimentResult` and offers the same protocol:
``table()``, ``verdict`` (text: a headline, then evidence, tests and caveats),
``verdict_label`` and ``assess()`` (the structured :class:`Verdict` with its
:class:`Check` s), ``to_dict()``, ``report()`` (Markdown) and ``write(out_dir)``.
Every experiment function takes keyword-only ``seed``, ``out_dir``, ``figures``,
``progress`` and ``overwrite`` with the same defaults. ``fastland reproduce NAME``
runs any of them at a small size.
"""

from ._result import Check, ExperimentResult, Section, Verdict
from .deep_linear import DeepLinearResult, deep_linear
from .degeneracy import DegeneracyResult, degeneracy
from .langevin_vs_sgd import LangevinResult, langevin_vs_sgd
from .lr_sweep import LrSweepResult, lr_sweep
from .precision import PrecisionResult, precision
from .rotation import RotationResult, rotation
from .slingshot import SlingshotResult, slingshot
from .teacher_student import TeacherStudentResult, teacher_student

__all__ = [
    "Check",
    "DeepLinearResult",
    "DegeneracyResult",
    "ExperimentResult",
    "LangevinResult",
    "LrSweepResult",
    "PrecisionResult",
    "RotationResult",
    "Section",
    "SlingshotResult",
    "TeacherStudentResult",
    "Verdict",
    "deep_linear",
    "degeneracy",
    "langevin_vs_sgd",
    "lr_sweep",
    "precision",
    "rotation",
    "slingshot",
    "teacher_student",
]
