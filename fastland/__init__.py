"""fastland: exact, fast loss landscapes of small neural networks.

The public surface is listed in ``__all__``; ``tests/test_namespace.py`` locks it.
"""

__version__ = "0.1.0"

from . import convergence, critical, datasets, diagnostics, experiments, geometry, interop, plot, symmetry
from .convergence import Convergence
from .data import Dataset
from .landscape import Landscape
from .model import MLP
from .sample import sample
from .store import Run, open_run
from .train import GradientFlowResult, TrainResult, gradient_flow, open_train, train

__all__ = [
    "Convergence",
    "Dataset",
    "GradientFlowResult",
    "Landscape",
    "MLP",
    "Run",
    "TrainResult",
    "__version__",
    "convergence",
    "critical",
    "datasets",
    "diagnostics",
    "experiments",
    "geometry",
    "gradient_flow",
    "interop",
    "open_run",
    "open_train",
    "plot",
    "sample",
    "symmetry",
    "train",
]
