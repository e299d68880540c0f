"""``minidl.nn.functional``: the ops of ``minidl.functional`` under the name PyTorch users import
(``import minidl.nn.functional as F``); the same functions, not copies."""
from ..functional import *  # noqa: F401,F403
from ..functional import __all__  # noqa: F401
