"""Seed experiments: one module each, a function returning a result object."""

from .rotation import RotationResult, rotation
from .teacher_student import TeacherStudentResult, teacher_student

__all__ = ["RotationResult", "TeacherStudentResult", "rotation", "teacher_student"]
