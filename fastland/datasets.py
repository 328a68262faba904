"""Datasets, as ``fl.datasets``: seed 001's random labels, seed 004's grid, and a user's own file (:func:`load`)."""

from .data import Dataset, TeacherStudent, random_labels, teacher_student
from .io import load

__all__ = ["Dataset", "TeacherStudent", "load", "random_labels", "teacher_student"]
