"""The linear correlation family: CCA, PLS, MCCA, GCCA (closed form, streaming) and KCCA."""

from jointspace.models.linear.cca import CCA, GCCA, MCCA, PLS
from jointspace.models.linear.kcca import KCCA

__all__ = ["CCA", "GCCA", "KCCA", "MCCA", "PLS"]
