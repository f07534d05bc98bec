"""The pytest process keeps SIGCHLD at its default (see pytest_configure in conftest.py):
a DataLoader with workers must not leave torch's SIGCHLD handler behind, or every child
that exits later in the run is delivered on faulthandler's alternate stack, which crashed
CI's pytest process (SIGSEGV, no traceback)."""
import signal
import subprocess
import sys

import torch
from torch.utils.data import DataLoader, TensorDataset


def test_dataloader_workers_leave_sigchld_at_its_default():
    loader = DataLoader(TensorDataset(torch.arange(8.0)), batch_size=2, num_workers=2)
    assert torch.cat([batch for (batch,) in loader]).tolist() == list(range(8))
    assert signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL
    # A child exiting afterwards is reaped as usual.
    assert subprocess.run([sys.executable, "-c", "pass"]).returncode == 0
