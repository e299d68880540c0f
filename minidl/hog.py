"""HOG moved to ``minidl.classic.hog`` with the rest of the traditional pipeline; this name keeps
``from minidl import hog`` working."""
from .classic.hog import (  # noqa: F401
    block_normalize, cell_histograms, hog, image_gradients, l2_normalize, orientation_votes,
)
