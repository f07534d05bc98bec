"""TensorFlow Lite export cases, run in a pytest process apart (test_tflite_export.py):
litert-torch loads TensorFlow, after which a later test that forks crashed the
main pytest process (tests/child_pytest.py)."""
import numpy as np
import pytest
import torch

import convzoo as cz
from convzoo.factory import get_model
from convzoo.tasks.deploy.export import FORMATS
from parity import randomize_


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small"])
def test_tflite_file_computes_what_the_model_does(name, tmp_path):
    model = randomize_(get_model(name)).eval()
    report = cz.export(model, "tflite", tmp_path / f"{name}.tflite", image_size=96, tolerance=1e-4)
    assert report.max_relative_difference <= 1e-4
    x = torch.randn(1, 3, 96, 96, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        expected = model(x).numpy()
    got = FORMATS["tflite"].load(report.path)(x.numpy())
    assert np.abs(got - expected).max() <= 1e-4 * np.abs(expected).max()
