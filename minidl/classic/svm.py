"""A linear SVM for K classes, s = W h + b, trained with minidl's autograd and SGD on the multi-class
hinge loss of Weston & Watkins (1999) plus weight decay:

    L = 1/N sum_n sum_{j != y_n} max(0, 1 + s_j(h_n) - s_{y_n}(h_n)) + lambda |W|^2

Each wrong class must score at least 1 below the right one; the penalty keeps the margin wide. Full-batch
gradient steps with momentum: the features of the traditional pipeline are a few thousand vectors of a few
hundred numbers, one matrix product per step.
"""
import numpy as np

from .. import backend, nn, optim
from ..creation import tensor
from ..functional import relu
from ..tensor import Tensor


def multiclass_hinge_loss(scores, target):
    """Weston-Watkins hinge, mean over samples of sum_{j != y} max(0, 1 + s_j - s_y); scores (N, K) Tensor,
    target (N,) int Tensor."""
    k = scores.shape[1]
    onehot = tensor(np.eye(k, dtype=np.float32)[backend.to_numpy(target.data)], device=scores.device)
    correct = (scores * onehot).sum(1, keepdim=True)
    margins = relu(scores - correct + 1.0) * (1.0 - onehot)
    return margins.sum(1).mean()


def train_linear_svm(features, target, num_classes, steps=300, lr=0.01, weight_decay=1e-3, momentum=0.9):
    """An ``nn.Linear(D, num_classes)`` on the device of ``features`` (N, D), trained for ``steps`` full-batch
    SGD steps; predict with ``svm(features).argmax(1)``."""
    if not isinstance(features, Tensor) or not isinstance(target, Tensor):
        raise TypeError("train_linear_svm: features and target must be minidl Tensors")
    present = np.unique(backend.to_numpy(target.data))
    if len(present) < 2:
        raise ValueError(f"train_linear_svm: labels hold a single class ({int(present[0])}); an SVM needs two or more")
    svm = nn.Linear(features.shape[1], num_classes).to(features.device)
    opt = optim.SGD(svm.parameters(), lr=lr, momentum=momentum)
    for _ in range(steps):
        loss = multiclass_hinge_loss(svm(features), target) + weight_decay * (svm.weight ** 2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return svm
