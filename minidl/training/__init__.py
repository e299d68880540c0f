"""Training: the epoch loop, metrics, checkpoints and plots shared by ``minidl train`` and ``minidl segment``."""
from .metrics import (  # noqa: F401
    ClassificationMeter, SegmentationMeter, confusion_matrix, segmentation_scores, topk_correct,
)
from .tasks import TASKS, Task, evaluate  # noqa: F401
from .trainer import Trainer, TrainingDiverged  # noqa: F401
