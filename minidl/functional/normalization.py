"""Normalisation layers' functions: local response normalisation (``lrn.py``) and batch normalisation
(``batchnorm.py``), gathered here as ``torch.nn.functional`` gathers them."""
from .batchnorm import batch_norm
from .lrn import local_response_norm, local_response_norm_paper

__all__ = ["local_response_norm", "local_response_norm_paper", "batch_norm"]
