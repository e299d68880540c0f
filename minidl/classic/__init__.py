"""The traditional pipeline of the lecture, "feature extraction + classifier": hand-designed features
(HOG, dense SIFT, a bag of visual words over them) and the classifiers of their time (a linear SVM,
AdaBoost with decision stumps). Array code on NumPy or CuPy, one file per method, each opening with its
formulas:

    gradients.py  the input check and centred-difference image gradients both features use
    hog.py        histograms of oriented gradients (Dalal & Triggs 2005)
    sift.py       dense SIFT descriptors (Lowe 2004)
    bow.py        k-means codebook, word histograms, spatial pyramid (Csurka 2004, Lazebnik 2006)
    svm.py        multi-class linear SVM on minidl's autograd (Weston & Watkins 1999)
    boost.py      AdaBoost / SAMME with decision stumps (Freund & Schapire 1997, Zhu et al. 2009)
"""
from . import boost, bow, hog, sift, svm  # noqa: F401
from .boost import AdaBoost  # noqa: F401
from .bow import histograms, kmeans, pyramid_histograms  # noqa: F401
from .sift import dense_sift  # noqa: F401
from .svm import multiclass_hinge_loss, train_linear_svm  # noqa: F401
