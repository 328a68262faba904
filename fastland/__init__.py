"""fastland: exact, fast loss landscapes of small neural networks.

The public surface is listed in ``__all__``; ``tests/test_namespace.py`` locks it.
"""

from . import datasets
from .data import Dataset
from .landscape import Landscape
from .model import MLP

__version__ = "0.1.0"

__all__ = ["Dataset", "Landscape", "MLP", "__version__", "datasets"]
