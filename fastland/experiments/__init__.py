"""Seed experiments: one module each, a function returning a result object."""

from .rotation import RotationResult, rotation

__all__ = ["RotationResult", "rotation"]
