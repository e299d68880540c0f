"""``minidl.functional``: the operations, one file per family, with PyTorch's names and arguments.

Each op is a ``Function`` (forward and explicit backward on arrays) plus a thin wrapper that checks
its arguments and gives a clear error naming the op.
"""
from .arithmetic import where  # noqa: F401
from .reduction import amax, amin, mean, sum  # noqa: F401
from .shape import cat, concat, flatten, pad, permute, split, squeeze, stack, unsqueeze  # noqa: F401

from .linear import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .pooling import *  # noqa: F401,F403
from .activation import *  # noqa: F401,F403
from .normalization import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .loss import *  # noqa: F401,F403
from .sampling import *  # noqa: F401,F403

# what ``from minidl.functional import *`` (and ``minidl.nn.functional``) gives
__all__ = [
    "where", "amax", "amin", "mean", "sum", "cat", "concat", "flatten", "pad", "permute", "split", "squeeze", "stack",
    "unsqueeze", "linear", "conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d",
    "adaptive_max_pool2d", "relu", "leaky_relu", "sigmoid", "tanh", "softmax", "log_softmax", "local_response_norm",
    "local_response_norm_paper", "batch_norm", "dropout", "dropout2d", "cross_entropy", "nll_loss", "mse_loss",
    "interpolate", "crop", "center_crop",
]
