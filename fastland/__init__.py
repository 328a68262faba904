"""fastland: exact, fast loss landscapes of small neural networks.

The public surface is listed in ``__all__``; ``tests/test_namespace.py`` locks it.
"""

__version__ = "0.1.0"

from . import datasets, diagnostics
from .data import Dataset
from .landscape import Landscape
from .model import MLP
from .sample import sample
from .store import Run, open_run

__all__ = [
    "Dataset",
    "Landscape",
    "MLP",
    "Run",
    "__version__",
    "datasets",
    "diagnostics",
    "open_run",
    "sample",
]
