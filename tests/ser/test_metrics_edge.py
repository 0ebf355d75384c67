"""SER metrics on the clip sets users score: one label only, nothing said that they cannot act on."""
from __future__ import annotations

import warnings

from speechbudget.tasks.ser.data import LABELS
from speechbudget.tasks.ser.metrics import ser_metrics


def test_clips_of_one_label_all_right_score_without_a_warning():
    # sklearn warned "A single label was found in 'y_true' and 'y_pred' ... use the 'labels'
    # parameter", printed by ser eval and sweep run as a 'warning:' line
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = ser_metrics(["ANG", "ANG"], ["ANG", "ANG"], LABELS)
    assert m.ua == 1.0 and m.wa == 1.0 and m.confusion[0][0] == 2


def test_a_prediction_of_a_label_no_clip_has_scores_without_a_warning():
    # a 6-emotion checkpoint on a dataset of fewer emotions: sklearn's "y_pred contains classes
    # not in y_true" reached ser eval as a 'warning:' line
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = ser_metrics(["ANG", "SAD", "SAD"], ["ANG", "SAD", "HAP"], LABELS)
    assert m.ua == (1.0 + 0.5) / 2 and m.confusion[LABELS.index("SAD")][LABELS.index("HAP")] == 1
