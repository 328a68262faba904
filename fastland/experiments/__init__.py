"""Seed experiments: one module each, a function returning a result object.

Every result offers ``to_dict()`` and ``table()``; the newer ones also ``verdict`` and
``report()`` (markdown). ``fastland reproduce NAME`` runs any of them at a small size.
"""

from .deep_linear import DeepLinearResult, deep_linear
from .degeneracy import DegeneracyResult, degeneracy
from .langevin_vs_sgd import LangevinResult, langevin_vs_sgd
from .lr_sweep import LrSweepResult, lr_sweep
from .precision import PrecisionResult, precision
from .rotation import RotationResult, rotation
from .slingshot import SlingshotResult, slingshot
from .teacher_student import TeacherStudentResult, teacher_student

__all__ = [
    "DeepLinearResult",
    "DegeneracyResult",
    "LangevinResult",
    "LrSweepResult",
    "PrecisionResult",
    "RotationResult",
    "SlingshotResult",
    "TeacherStudentResult",
    "deep_linear",
    "degeneracy",
    "langevin_vs_sgd",
    "lr_sweep",
    "precision",
    "rotation",
    "slingshot",
    "teacher_student",
]
