"""Critical points: refine, classify, escape saddles, certify local minima.

Seed 004 trains many students with Adam and asks which end points are saddles,
local minima or global minima. That needs three things this package provides:

- :func:`refine` polishes points to critical points (batched damped Newton with
  the exact Hessian, or SciPy's trust-exact / SLSQP / BFGS);
- :func:`classify` labels each point from its gradient and full Hessian
  spectrum, with tolerances derived from an error estimate at that point, and
  reports the margin each label was decided with;
- :func:`escape` / :func:`eps_sweep` run the seed's perturb-and-refine loop;
  :func:`certify` proves, Safran-Shamir style, that a true local minimum lies
  within a computed radius and bounds its loss from below.

Where things live
-----------------
The public names below are defined in private modules, one per topic:

- ``_refine``: :class:`RefineResult`, :func:`refine` (method dispatch, the SciPy
  minimisers, the reduction jump of ``reduce=True``);
- ``_solvers``: the batched "newton" and "descent" solvers behind
  :func:`refine`;
- ``_classify``: :class:`Classification`, :func:`classify` (labels, margins,
  symmetry-explained null counts, levels, step 6 by reduction);
- ``_errors``: the error model below -- every tolerance a label is decided
  with (gradient, Hessian noise, eigenvalue, loss, symmetry tolerances);
- ``_reduction``: exactly symmetric critical points found by reduction to a
  narrower network, shared by :func:`refine` and :func:`classify`;
- ``_escape``: :class:`EscapeResult`, :func:`escape`, :class:`EpsSweep`,
  :func:`eps_sweep`;
- ``_certify``: :class:`Certificate`, :func:`certify`, :func:`hessian_lipschitz`
  (long-double derivatives, Lipschitz bound of the Hessian);
- ``_common``: argument checks, batch-axis helpers, Jacobi scaling.

Each module imports only those before it in the order ``_common``, ``_errors``,
``_solvers``, ``_reduction``, ``_classify``, ``_refine``, ``_escape``
(``_certify`` needs ``_common`` only), so there are no import cycles; the
reduction code calls the solvers directly rather than :func:`refine`.

:func:`sharpness` and :class:`Sharpness` are :mod:`fastland.sharpness`'s,
re-exported here. :data:`LABELS` are the labels :func:`classify` assigns.

Error model (used by :func:`refine` and :func:`classify`)
---------------------------------------------------------
Labels depend on the Hessian's inertia (how many eigenvalues are negative,
zero, positive), which a congruence does not change (Sylvester). Decisions are
therefore made on the Jacobi-scaled Hessian ``S = D H D``, ``D = diag(|H_kk|^-1/2)``,
whose small eigenvalues float64 resolves even when parameters live on very
different scales (Demmel & Veselic 1992), and which does not change when a
parameter is rescaled. A row whose diagonal is within the row's rounding noise
(measured as below) is scaled by its largest entry instead, so that the noise
is not amplified. With ``eps`` the machine epsilon of the landscape's dtype,
``p`` the number of parameters, ``L`` the loss and ``w`` the point:

- gradient, per component: ``grad_tol_k = safety * eps * ((abs(H) abs(w))_k +
  sqrt(p L |H_kk|))`` -- the change of gradient that rounding each coordinate of
  ``w`` causes, plus the rounding of the sums over data -- and a point is
  critical when ``grad_ratio = max_k |g_k| / grad_tol_k <= 1``;
- Hessian noise: ``N = abs(H(w') - H(w))`` with ``w'`` equal to ``w`` moved by
  four ulps (alternating signs): the rounding noise of the computed Hessian,
  measured rather than bounded (More & Wild 2011);
- eigenvalues of ``S = V diag(lam) V^T``: the rounding level is ``r = p * eps *
  |S| + |D N D|_F`` (LAPACK's backward error plus the Hessian's noise). The
  Newton step to the nearby critical point is ``sigma_k = -(V^T D g)_k / lam_k``
  in scaled coordinates (dropping ``|lam_k| <= safety * r``), and ``rho = |D (H(w
  + s) - H(w)) D|_F / |sigma|`` is the change of ``S`` per unit of scaled distance,
  measured along the step (first the whole step, then its resolved part; the
  larger is kept). A direction is *resolved* when ``|lam_k| > safety * rho *
  |sigma_k|``: moving along it to the critical point cannot change the
  eigenvalue's sign. ``eig_tol = safety * (r + rho * |sigma_R|)``, ``sigma_R``
  the resolved part of the step -- the rounding level plus Weyl's bound on how
  far the scaled spectrum at the nearby critical point is from the computed
  one. Unresolved eigenvalues count as zero: such a point is too far from its
  critical point along a very flat direction for second order to decide;
- loss: ``loss_tol = safety * (eps |L| + eps^2 abs(w) . abs(H) abs(w) / 2 +
  sum_k |c_k sigma_k|)``, ``c = V^T D g`` -- the loss's rounding, the rounding of
  ``w``, and the first-order change of loss on the way to the nearby critical
  point (``g . s``, termwise), unresolved directions included: along a quartic
  valley ``c_k^2 / lam_k`` is 4/3 of the loss still to lose.

Multiplying the loss by ``c`` multiplies the gradient and loss tolerances by
``c`` and leaves ``S`` and ``eig_tol`` unchanged, so labels do not depend on the
loss's units; rescaling single parameters leaves them unchanged too. No
tolerance is a fixed constant; ``safety`` (default 10) is the one factor by
which the estimates are inflated.
"""

from __future__ import annotations

from ..sharpness import Sharpness, sharpness  # re-exported as fl.critical.sharpness
from ._certify import Certificate, certify, hessian_lipschitz
from ._classify import Classification, classify
from ._common import LABELS
from ._common import SAFETY as SAFETY  # the default safety factor (not in __all__, as before)
from ._escape import EpsSweep, EscapeResult, eps_sweep, escape
from ._refine import RefineResult, refine

__all__ = [
    "LABELS",
    "Certificate",
    "Classification",
    "EpsSweep",
    "EscapeResult",
    "RefineResult",
    "Sharpness",
    "certify",
    "classify",
    "eps_sweep",
    "escape",
    "hessian_lipschitz",
    "refine",
    "sharpness",
]
