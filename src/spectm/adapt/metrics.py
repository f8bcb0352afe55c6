"""Test metrics of the adaptation experiment: mIoU (segmentation) and R² (regression).

``spectm.evaluate.metrics`` scores log10 microcystin and back-transforms with ``10**y``; these
two are the generic forms the experiment needs (the same R² definition: NaN for a constant
truth).
"""

from __future__ import annotations

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Pixel counts ``[true, predicted]`` over labelled pixels (``y_true >= 0``), ``(K, K)``.

    Args:
        y_true: Class index, any shape; -1 = no label (ignored).
        y_pred: Predicted class index, same shape.
        n_classes: Classes K.

    """
    t = np.asarray(y_true).ravel()
    p = np.asarray(y_pred).ravel()
    keep = t >= 0
    idx = t[keep].astype(np.int64) * n_classes + p[keep].astype(np.int64)
    return np.bincount(idx, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def mean_iou(cm: np.ndarray) -> float:
    """Mean IoU over the classes present in the truth (rows with a pixel).

    ``IoU_k = TP / (TP + FP + FN)``; a class never in the truth is left out of the mean even
    when predicted (its false positives still lower the IoU of the true classes). NaN when no
    pixel is labelled.

    Args:
        cm: Confusion matrix ``[true, predicted]``, ``(K, K)``.

    """
    cm = np.asarray(cm, dtype=float)
    tp = np.diag(cm)
    present = cm.sum(axis=1) > 0
    if not present.any():
        return float("nan")
    union = cm.sum(axis=1) + cm.sum(axis=0) - tp
    return float(np.mean(tp[present] / union[present]))


def r2(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """R² = ``1 - SS_res / SS_tot`` of ``(n,)`` values; NaN for fewer than 2 or a constant truth."""
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(y_pred, dtype=float)
    ss_tot = float(np.sum((y - y.mean()) ** 2)) if y.size else 0.0
    if y.size < 2 or ss_tot <= 0:
        return float("nan")
    return 1.0 - float(np.sum((y - p) ** 2)) / ss_tot
