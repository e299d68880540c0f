"""minidl: a deep-learning engine written to be read, on NumPy (CPU) and CuPy (GPU)."""
from . import backend, random  # noqa: F401
from .autograd import Function, enable_grad, is_grad_enabled, no_grad, set_grad_enabled  # noqa: F401
from .backend import (  # noqa: F401
    get_array_module, get_default_device, get_num_threads, get_tf32, gpu_available, set_default_device,
    set_num_threads, set_tf32,
)
from .random import manual_seed  # noqa: F401
from .tensor import (  # noqa: F401
    Tensor, bool_, double, float16, float32, float64, half, int32, int64, long, uint8,
)
from .creation import (  # noqa: F401
    arange, empty, empty_like, eye, from_numpy, full, full_like, linspace, ones, ones_like, rand, rand_like, randint,
    randn, randn_like, randperm, tensor, zeros, zeros_like,
)
from . import functional  # noqa: F401,E402
from .functional import cat, concat, split, stack, where  # noqa: F401,E402
from .functional.winograd import get_conv_algorithm, set_conv_algorithm  # noqa: F401,E402
from .functions import (  # noqa: F401,E402
    abs, add, amax, amin, argmax, argmin, chunk, clamp, clip, div, exp, flatten, is_tensor, log, log_softmax,
    matmul, max, mean, min, mul, neg, numel, permute, pow, relu, reshape, sigmoid, softmax, sqrt, squeeze, sub,
    sum, t, tanh, transpose, unsqueeze,
)
from .gradcheck import gradcheck  # noqa: F401,E402
from . import optim  # noqa: F401,E402
from .checkpoint import CheckpointError, load, save  # noqa: F401,E402
from . import nn  # noqa: F401,E402
from . import data  # noqa: F401,E402
from .summary import receptive_field, summary  # noqa: F401,E402
from . import viz  # noqa: F401,E402
from .viz import draw_graph, trace_modules  # noqa: F401,E402

__version__ = "0.1.0"
