"""``Parameter``: a tensor that a ``Module`` registers as one of its weights."""
import numpy as np

from ..tensor import Tensor


class Parameter(Tensor):
    """A tensor that is a module's weight: it requires a gradient unless told otherwise.

    ``Parameter(t)`` shares ``t``'s array (no copy), as ``torch.nn.Parameter`` shares storage.
    """

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = np.empty((0,), dtype=np.float32)
        if isinstance(data, Tensor):
            data = data.data
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()
