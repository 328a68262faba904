"""Dataset generators, as ``fl.datasets``: seed 001's random labels, seed 004's grid."""

from .data import Dataset, TeacherStudent, random_labels, teacher_student

__all__ = ["Dataset", "TeacherStudent", "random_labels", "teacher_student"]
