"""Every model through the graph captures deployment starts from (issue 14):
torch.jit.script, torch.fx.symbolic_trace (what torchvision's
create_feature_extractor uses), torch.export and ONNX with a free batch size.
Outputs must equal eager's: exactly for script and fx (same kernels), to
float32 precision for the exported files (read back by their runtimes).

By default the smallest model of every family (scripting and tracing also
Inception v3 and SE-ResNet, whose blocks differ from their family's smallest;
exported to ONNX for five of them, see ONNX_FAST, to .pt2 for the others);
every model with -m slow."""
import warnings

import pytest
import torch

import convzoo as cz
from convzoo.tasks.deploy.export import export
from parity import fast_then_slow, randomize_, smallest_of_each_family


FAMILIES = smallest_of_each_family()
FAST = sorted({*FAMILIES, "inception_v3", "seresnet18"})  # their blocks differ from their family's smallest
EVERY_MODEL = fast_then_slow(FAST, cz.list_models())
# Exports cost seconds each: by default one export per family, every model in both
# formats with -m slow. ONNX (the dynamo exporter plus onnxruntime, ~10 s a model) for
# the families whose ops are the exporter's hard cases: TF "SAME" padding, channel
# LayerNorm, channel shuffle, hard-swish + squeeze-excite, and plain convs; the .pt2
# file (torch.export, saved and loaded) for the others. The dynamo exporter starts
# from torch.export.export with the same free batch size, so an ONNX case captures
# its model with torch.export too.
ONNX_FAST = {"efficientnet_lite0", "convnext_tiny", "shufflenet_v2_x0_5", "mobilenet_v3_small", "resnet18"}


def _export_case(name: str, fmt: str):
    fast = name in FAMILIES and (fmt == "onnx") == (name in ONNX_FAST)
    return pytest.param(name, fmt, marks=() if fast else pytest.mark.slow)


EXPORT_CASES = [_export_case(name, fmt) for name in cz.list_models() for fmt in ("exported-program", "onnx")]


def _input(name: str, batch: int = 2) -> torch.Tensor:
    size = 96 if name == "inception_v3" else 64  # Inception v3's valid convs need >= 75 px
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(0))


def _model(name: str) -> torch.nn.Module:
    # randomize_: every parameter and buffer (BN statistics too) away from its init,
    # so that a capture that dropped or reordered one would show.
    return randomize_(cz.get_model(name)).eval()


def test_the_fast_subset_covers_every_family():
    every_family = {cz.model_info(n).family for n in cz.list_models()}
    assert {cz.model_info(n).family for n in FAST} == {cz.model_info(n).family for n in FAMILIES} == every_family


@pytest.mark.parametrize("name", EVERY_MODEL)
def test_scripts_and_traces_to_the_same_outputs(name):
    model, x = _model(name), _input(name)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.script's deprecation notice
        expected = model(x)
        scripted = torch.jit.script(model)
        traced = torch.fx.symbolic_trace(model)
        torch.testing.assert_close(scripted(x), expected, rtol=0, atol=0)
        torch.testing.assert_close(traced(x), expected, rtol=0, atol=0)


@pytest.mark.parametrize("name, fmt", EXPORT_CASES)
def test_exports_with_a_free_batch_size(name, fmt, tmp_path):
    """export() reads the file back and compares it with eager at batches 1
    and 3 (it raises above `tolerance`); the report says what it measured."""
    model = _model(name)
    report = export(model, fmt, tmp_path / f"{name}.{'pt2' if fmt == 'exported-program' else 'onnx'}",
                    image_size=_input(name).shape[-1], dynamic_batch=True, tolerance=1e-4)
    assert report.batch_sizes == [1, 3] and report.input_shape[0] == "batch"
    assert report.max_relative_difference <= 1e-4
    assert report.path.is_file()


@pytest.mark.parametrize("name", ["efficientnet_lite0", "nasnet_a_mobile", "shufflenet_v2_x0_5"])
def test_torchvision_feature_extractor_gives_the_stage_outputs(name):
    """torchvision's create_feature_extractor (torch.fx underneath) works on the
    models whose padding, cells or shuffles once stopped FX, and returns what
    forward_stages does."""
    from torchvision.models.feature_extraction import create_feature_extractor, get_graph_node_names

    model, x = _model(name), _input(name)
    nodes = get_graph_node_names(model)[1]
    # The last node of each stage: for NASNet a stage returns (x, x_prev), take its x.
    last = {f"stages.{i}": max((n for n in nodes if n == f"stages.{i}" or n.startswith(f"stages.{i}.")),
                               key=nodes.index) for i in range(len(model.stages))}
    extractor = create_feature_extractor(model, return_nodes={node: stage for stage, node in last.items()})
    with torch.no_grad():
        features, expected = extractor(x), model.forward_stages(x)
    for i, want in enumerate(expected):
        got = features[f"stages.{i}"]
        got = got[0] if isinstance(got, tuple) else got
        torch.testing.assert_close(got, want, rtol=0, atol=0)
