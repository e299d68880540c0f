"""``minidl.nn``: modules, layers and initialisation with ``torch.nn``'s names and behaviour."""
from . import functional  # noqa: F401  (``import minidl.nn.functional as F``, as in PyTorch)
from . import init, utils  # noqa: F401  (utils: clip_grad_norm_, as torch.nn.utils)
from .activation import LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh  # noqa: F401
from .containers import ModuleDict, ModuleList, Sequential  # noqa: F401
from .conv import Conv2d, ConvTranspose2d  # noqa: F401
from .dropout import Dropout, Dropout2d  # noqa: F401
from .flatten import Flatten  # noqa: F401
from .linear import Identity, Linear  # noqa: F401
from .loss import CrossEntropyLoss, MSELoss, NLLLoss  # noqa: F401
from .module import Module, RemovableHandle  # noqa: F401
from .normalization import BatchNorm1d, BatchNorm2d, LocalResponseNorm, LocalResponseNormPaper  # noqa: F401
from .parameter import Parameter  # noqa: F401
from .pooling import AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool2d, MaxPool2d  # noqa: F401
from .state import IncompatibleKeys, StateDictError  # noqa: F401
