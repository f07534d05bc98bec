"""Learning curves and the text confusion matrix read right at a glance."""
import json

import pytest

from convzoo.tasks.train.evaluate import format_confusion_matrix, format_report
from convzoo.tasks.train.plots import curves_figure

HISTORY = [
    {"epoch": 1, "frozen_stages": 4, "train_loss": 1.2, "val_loss": 0.9, "train_acc": 0.6, "val_acc": 0.8},
    {"epoch": 2, "frozen_stages": 0, "train_loss": 0.5, "val_loss": 0.3, "train_acc": 0.9, "val_acc": 1.0},
    {"epoch": 3, "frozen_stages": 0, "train_loss": 0.2, "val_loss": 0.25, "train_acc": 0.98, "val_acc": 1.0},
]


@pytest.fixture
def axes():
    import matplotlib.pyplot as plt

    fig = curves_figure(HISTORY, best_epoch=3, n_stages=4)
    fig.canvas.draw()
    yield fig.axes
    plt.close(fig)


def test_epoch_ticks_are_whole_numbers(axes):
    for ax in axes:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks == [1, 2, 3]


def test_accuracy_axis_leaves_headroom_above_one(axes):
    loss, acc = axes
    assert acc.get_ylim() == (0, 1.05)


def test_best_epoch_is_marked_on_both_curves(axes):
    for ax, value in zip(axes, (0.25, 1.0)):
        best = [line for line in ax.get_lines() if line.get_label() == "best (epoch 3)"]
        assert len(best) == 1
        assert list(best[0].get_xdata()) == [3] and list(best[0].get_ydata()) == [value]


def test_probe_to_fine_tune_switch_is_marked_between_epochs(axes):
    for ax in axes:
        switch = [line for line in ax.get_lines() if list(line.get_xdata()) == [1.5, 1.5]]
        assert len(switch) == 1
        assert [t.get_text().strip() for t in ax.texts] == ["probe → fine-tune"]


def test_text_confusion_matrix_labels_rows_true_and_columns_predicted():
    lines = format_confusion_matrix([[5, 1], [0, 7]], ["cat", "a_very_long_class_name"])
    header, cat, other = lines
    assert header.split() == ["true", "\\", "pred", "cat", "a_very_long~"]
    assert cat.split() == ["cat", "5", "1"] and other.split() == ["a_very_long~", "0", "7"]
    # Each count is right-aligned under its column's label.
    assert header.index("cat") + len("cat") == cat.index("5") + 1 == other.index("0") + 1
    assert len(header) == len(cat) == len(other)


def test_eval_report_shows_the_labelled_matrix():
    report = {"accuracy": 0.9, "macro_f1": 0.9, "loss": 0.1, "classes": ["cat", "dog"],
              "per_class": {c: {"precision": 1, "recall": 1, "f1": 1, "support": 1} for c in ("cat", "dog")},
              "confusion_matrix": [[3, 1], [0, 4]], "misclassified": []}
    text = format_report(json.loads(json.dumps(report)))
    assert "confusion matrix (rows: true, columns: predicted)" in text
    assert "\ncat " in text and "\ndog " in text and "true \\ pred" in text
