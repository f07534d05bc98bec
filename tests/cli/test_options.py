"""Options shared by several commands are declared once (cli/options.py), and every
command's --help offers what it offered before the options were merged."""
import argparse
import contextlib
import io
import re

import pytest

from convzoo.cli import build_parser
from convzoo.cli.options import SHARED, add_options, device
from convzoo.factory import chosen_weights

# Declared by hand in several commands on purpose: --out is a file for some
# (predict, bench, select, export) and a folder for others (train, seg-train, explain, visualize).
NOT_SHARED = {"--out"}
# A flag that means something else in one command: serve's --workers are server processes.
OWN_MEANING = {("serve", "--workers")}

# Every command's flags, as they were before cli/options.py: merging must not drop or add one.
FLAGS = {
    "list": ["--pretrained"],
    "predict": ["--batch-size", "--calibration", "--checkpoint", "--device", "--fast", "--json", "--max-pixels",
                "--min-agreement", "--model", "--no-progress", "--out", "--positive", "--precision", "--runtime",
                "--threshold", "--timeout", "--topk", "--tta", "--weights", "--workers"],
    "train": ["--amp", "--balance", "--batch-size", "--cache", "--channels-last", "--crop", "--crop-scale", "--cutmix", "--device",
              "--drop-path-rate", "--ema-decay", "--epochs", "--exclude-duplicates", "--folds", "--freeze", "--grad-accum", "--image-size",
              "--label-smoothing", "--layer-decay", "--lr", "--lr-find", "--mixup", "--mlflow", "--model", "--momentum", "--monitor",
              "--no-channels-last", "--no-check", "--no-hflip", "--no-progress", "--optimizer", "--out", "--overwrite", "--patience", "--positive",
              "--probe-epochs",
              "--randaugment", "--random-erasing", "--resume", "--seed", "--tensorboard", "--train-crop", "--unfreeze-every", "--val-fraction",
              "--warmup-epochs", "--weight-decay", "--weights", "--workers"],
    "eval": ["--all", "--batch-size", "--calibration", "--checkpoint", "--device", "--fast", "--json",
             "--min-agreement", "--no-progress", "--plots", "--positive", "--precision", "--report", "--report-top",
             "--runtime",
             "--target-precision", "--target-recall", "--threshold", "--tta", "--workers"],
    "calibrate": ["--batch-size", "--device", "--json", "--no-progress", "--positive", "--target-precision",
                  "--target-recall", "--tta", "--workers"],
    "seg-train": ["--batch-size", "--decoder", "--decoder-channels", "--device", "--encoder", "--encoder-weights",
                  "--epochs", "--freeze-encoder", "--image-size", "--lr", "--no-hflip", "--no-progress",
                  "--num-classes", "--out", "--out-indices", "--output-stride", "--overwrite", "--seed",
                  "--val-data", "--val-fraction", "--weight-decay", "--workers"],
    "check": ["--image-size", "--json", "--near-threshold", "--no-progress", "--workers"],
    "info": ["--channels", "--compare", "--input-size", "--layers"],
    "download": [],
    "bench": ["--batch-sizes", "--device", "--image-size", "--no-memory", "--no-progress", "--out", "--plot",
              "--precision", "--rounds", "--runtime", "--threads", "--train", "--vs"],
    "compare": ["--device", "--json", "--models", "--precision", "--repeats", "--runtime", "--topk"],
    "select": ["--batch-size", "--device", "--folds", "--image-size", "--json", "--max-latency-ms", "--max-params",
               "--models", "--no-progress", "--out", "--plot", "--rounds", "--seed", "--threads",
               "--val-fraction", "--workers"],
    "export": ["--batch-size", "--checkpoint", "--dynamic-batch", "--format", "--image-size", "--out",
               "--tolerance", "--weights"],
    "explain": ["--model", "--out", "--weights"],
    "serve": ["--bench", "--calibration", "--checkpoint", "--device", "--fast", "--host", "--max-batch",
              "--max-pixels", "--max-upload-mb", "--max-wait-ms", "--min-agreement", "--models", "--port",
              "--precision", "--queue-size", "--runtime", "--workers"],
    "visualize": ["--image", "--out", "--top", "--weights"],
    "push": ["--private", "--token"],
}


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _flagged(command: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in command._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]


def test_every_command_keeps_its_flags():
    commands = _commands()
    assert set(commands) == set(FLAGS)
    for name, command in commands.items():
        flags = sorted(flag for action in _flagged(command) for flag in action.option_strings)
        assert flags == FLAGS[name], name


def test_a_flag_of_several_commands_is_declared_once_in_options():
    users: dict[str, list[str]] = {}
    for name, command in _commands().items():
        for action in _flagged(command):
            for flag in action.option_strings:
                users.setdefault(flag, []).append(name)
    hand_declared = []
    for name, command in _commands().items():
        for action in _flagged(command):
            flag = action.option_strings[0]
            if (len(users[flag]) > 1 and flag not in NOT_SHARED and (name, flag) not in OWN_MEANING
                    and not hasattr(action, "shared_option")):
                hand_declared.append(f"{name} {flag}")
    assert hand_declared == [], "declare these with cli/options.add_options, not by hand"


def test_a_shared_option_has_one_type_check_and_help_everywhere():
    for name, command in _commands().items():
        for action in _flagged(command):
            option = getattr(action, "shared_option", None)
            if option is None or option == "runtime":
                continue
            reference = argparse.ArgumentParser().add_argument(SHARED[option].flag, **SHARED[option].settings)
            assert action.option_strings == reference.option_strings, (name, option)
            assert type(action) is type(reference), (name, option)
            assert action.type is reference.type, (name, option)  # the type is the check
            assert (action.dest, action.nargs, action.choices) == (reference.dest, reference.nargs,
                                                                   reference.choices), (name, option)
            assert action.help.startswith(reference.help), (name, option)


def test_runtime_options_are_the_same_wherever_they_are_offered():
    seen: dict[str, dict] = {}
    for name, command in _commands().items():
        for action in _flagged(command):
            if getattr(action, "shared_option", None) != "runtime" or action.dest not in ("runtime", "precision"):
                continue
            # bench and compare time a runtime named outright: the same choices less auto and int8.
            full = set(action.choices) | {"auto", "int8"}
            assert seen.setdefault(action.dest, {"choices": full})["choices"] == full, name


def test_the_same_helper_cannot_declare_an_option_twice():
    parser = argparse.ArgumentParser()
    add_options(parser, "device")
    with pytest.raises(argparse.ArgumentError, match="conflicting option string: --device"):
        add_options(parser, "device")


@pytest.mark.parametrize("text", ["auto", "cpu", "cuda", "cuda:0", "cuda:12"])
def test_device_accepts_auto_cpu_cuda_and_cuda_n(text):
    assert device(text) == text


def test_every_device_option_refuses_a_wrong_device_in_one_line():
    for name, command in _commands().items():
        if not any("--device" in a.option_strings for a in _flagged(command)):
            continue
        err = io.StringIO()
        with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as exit_info:
            command.parse_known_args(["--device", "gpu0"])
        assert exit_info.value.code == 2, name
        assert "'gpu0' is not a device: use auto, cpu, cuda or cuda:N" in err.getvalue(), name


def test_none_means_no_weights_and_unset_means_the_default():
    assert chosen_weights(None) == "DEFAULT"
    assert chosen_weights("NONE") is None and chosen_weights("none") is None
    assert chosen_weights("IMAGENET1K_V2") == "IMAGENET1K_V2"
    assert chosen_weights(None, unset=None) is None


def test_visualize_draws_random_weights_with_none(tmp_path, run_cli):
    """visualize took "none" as a weights tag before the options were merged."""
    code, out, err = run_cli(["visualize", "resnet18", "--weights", "none", "--out", str(tmp_path)])
    assert code == 0, err
    assert (tmp_path / "resnet18_filters.png").is_file()


def test_help_shows_each_default_once_and_never_none():
    for name, command in _commands().items():
        text = command.format_help()
        flat = " ".join(text.split())
        assert "(default: None)" not in flat, name
        assert "(default: False)" not in flat and "(default: True)" not in flat, name
        for entry in re.split(r"\s(?=--?[a-z])", flat):
            assert len(re.findall(r"\bdefault\b", entry)) <= 1, (name, entry)


@pytest.mark.parametrize("argv, message", [
    (["bench", "resnet18", "--plot", "front.jpg"], "argument --plot: front.jpg: name a .png file"),
    (["select", "photos/", "--out", "ranking.txt"], "argument --out: ranking.txt: name a .csv or a .json file"),
    (["bench", "resnet18", "--out", "rows.xlsx"], "argument --out: rows.xlsx: name a .csv or a .json file"),
])
def test_a_wrong_file_name_is_refused_in_one_line_before_any_work(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and message in err
