"""mIoU and R² against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spectm.adapt.metrics import confusion_matrix, mean_iou, r2


def test_miou_over_classes_present_by_hand():
    truth = np.array([[0, 0, 1, 1], [1, -1, -1, 0]])  # class 2 never true
    pred = np.array([[0, 1, 1, 2], [1, 2, 2, 0]])
    cm = confusion_matrix(truth, pred, 3)
    assert cm.tolist() == [[2, 1, 0], [0, 2, 1], [0, 0, 0]]
    # class 0: TP 2, FN 1, FP 0 -> 2/3; class 1: TP 2, FN 1, FP 1 -> 2/4; class 2 absent
    assert mean_iou(cm) == pytest.approx((2 / 3 + 2 / 4) / 2)
    assert math.isnan(mean_iou(confusion_matrix(-np.ones(4, int), np.zeros(4, int), 2)))


def test_r2_by_hand():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    p = np.array([1.5, 2.0, 2.5, 4.0])
    assert r2(y, p) == pytest.approx(1 - 0.5 / 5.0)
    assert math.isnan(r2([1.0], [1.0])) and math.isnan(r2([2.0, 2.0], [1.0, 3.0]))
