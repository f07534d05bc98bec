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


def _report(**extra) -> dict:
    """A report as evaluate_checkpoint returns it, through JSON (as --json carries it)."""
    report = {"accuracy": 0.875, "balanced_accuracy": 0.875, "macro_f1": 0.873, "mcc": 0.77, "roc_auc": 0.93,
              "pr_auc": 0.91, "log_loss": 0.31, "loss": 0.31, "brier": 0.09, "ece": 0.04, "classes": ["cat", "dog"],
              "per_class": {c: {"precision": 1, "recall": 1, "f1": 1, "support": 1} for c in ("cat", "dog")},
              "confusion_matrix": [[3, 1], [0, 4]], "misclassified": [], "never_predicted": [],
              "rule": {"text": "argmax"}, **extra}
    return json.loads(json.dumps(report))


def test_eval_report_shows_the_labelled_matrix():
    text = format_report(_report())
    assert "confusion matrix (rows: true, columns: predicted)" in text
    assert "\ncat " in text and "\ndog " in text and "true \\ pred" in text


def test_eval_report_leads_with_the_headline_metrics_and_the_rule():
    text = format_report(_report(rule={"text": "dog when its probability >= 0.21 (chosen for recall 0.95), "
                                               "temperature 1.37"}))
    lines = text.splitlines()
    assert lines[0] == "decision: dog when its probability >= 0.21 (chosen for recall 0.95), temperature 1.37"
    assert lines[2].split("   ") == ["accuracy 0.8750", "balanced accuracy 0.8750", "macro-F1 0.8730", "MCC 0.7700",
                                   "ROC-AUC 0.9300", "PR-AUC 0.9100"]
    assert lines[3].startswith("threshold-free: log loss 0.3100   Brier 0.0900   ECE 0.0400")


def test_eval_report_says_why_a_metric_is_undefined_and_what_is_never_predicted():
    why = "undefined: the images hold no dog (every class is needed to rank one against the rest)"
    text = format_report(_report(roc_auc=None, pr_auc=None, undefined={"roc_auc": why, "pr_auc": why},
                                 never_predicted=["dog"]))
    assert "ROC-AUC undefined   PR-AUC undefined" in text
    assert "ROC-AUC, PR-AUC undefined: the images hold no dog (every class" in text
    assert "never predicted: dog" in text


def test_eval_report_stars_the_rules_row_of_the_threshold_table():
    rows = [{"threshold": t, "precision": p, "recall": r, "fpr": f, "flagged": n, "missed": m}
            for t, p, r, f, n, m in ((0.1, 0.5, 1.0, 0.5, 8, 0), (0.21, 0.8, 1.0, 0.1, 5, 0), (0.5, None, 0.0, 0.0, 0, 4))]
    section = {"positive": "dog", "positives": 4, "rule": {**rows[1], "threshold": 0.21}, "table": rows}
    text = format_report(_report(operating_point=section, plots={"roc": "run/roc_curve.png", "pr": "run/pr_curve.png"},
                                 optimistic=True, optimistic_why="threshold chosen on the images it is scored on"))
    table = text[text.index("operating point of dog"):].splitlines()
    assert table[1].split() == ["threshold", "precision", "recall", "FPR", "flagged", "missed"]
    assert table[3].split() == ["*", "0.2100", "0.800", "1.000", "0.100", "5", "0"]
    assert table[2].split()[0] == "0.1000" and table[4].split()[:2] == ["0.5000", "-"]
    assert "the rule (the row starred): precision 0.800, recall 1.000" in text
    assert "OPTIMISTIC: threshold chosen on the images it is scored on" in text
    assert text.endswith("curves: run/roc_curve.png  run/pr_curve.png")
