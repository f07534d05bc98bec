"""The user's jobs, one room each, built on the factory.

    choose/    which model: bench, compare, select, pareto
    train/     fine-tuning, evaluation, its plots; segmentation training
    predict/   the Classifier and `convzoo predict` runs
    anatomy/   summaries, complexity, receptive fields, layer table, visualize, explain, teaching
    check/     `convzoo check`: unreadable files, leakage, label conflicts, duplicates, odd images
    deploy/    optimize/ (inference runtimes) and export/ (deployment files)
    shared/    device, timing, torchrun, checkpoints, extras, text, plots, seeds

A room imports only the rooms below it (choose > train > predict | anatomy |
check > deploy > shared), checked by the second import-linter contract in pyproject.toml.

Until 0.1 the jobs were modules directly in tasks/ (`convzoo.tasks.explain`,
`convzoo.tasks.classify`, ...). Code written against those paths keeps working:
`MOVED` maps each old module to its room, and importing an old path gives the
very module of the new one (one module object, so patching either patches both).
The old `convzoo.tasks.train` is the train room itself, which re-exports its names.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

MOVED = {
    "bench": "choose.bench", "bench_output": "choose.bench_output", "compare": "choose.compare",
    "memory": "choose.memory", "pareto": "choose.pareto", "probe": "choose.probe",
    "reference_models": "choose.reference_models", "select": "choose.select",
    "select_output": "choose.select_output",
    "evaluate": "train.evaluate", "optim": "train.optim", "report": "train.plots", "seg_train": "train.seg",
    "classify": "predict.classifier", "predict_run": "predict.run", "predict_output": "predict.output",
    "complexity": "anatomy.complexity", "explain": "anatomy.explain", "layer_table": "anatomy.layer_table",
    "receptive_field": "anatomy.receptive_field", "summary": "anatomy.summary", "teaching": "anatomy.teaching",
    "visualize": "anatomy.visualize",
    "optimize": "deploy.optimize", "export": "deploy.export",
    "checkpoint": "shared.checkpoint", "distributed": "shared.distributed", "timing": "shared.timing",
}


def moved_to(old: str) -> str | None:
    """Where the module once at `old` (convzoo.tasks.X[.Y]) lives now; None for any other path."""
    head, _, rest = old.removeprefix(__name__ + ".").partition(".")
    if not old.startswith(__name__ + ".") or head not in MOVED:
        return None
    return f"{__name__}.{MOVED[head]}" + (f".{rest}" if rest else "")


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """First on sys.meta_path: an old folder left behind by an in-place upgrade (tasks/export/
    holding only __pycache__) would otherwise be imported as an empty namespace package.
    It answers only for the old paths in MOVED, none of which is a module any more."""

    def find_spec(self, fullname, path=None, target=None):
        return importlib.util.spec_from_loader(fullname, self) if moved_to(fullname) else None

    def exec_module(self, module):
        # The import system returns whatever sys.modules holds under the name once this
        # returns: the new module, untouched (its __name__ and __spec__ stay the new path).
        sys.modules[module.__name__] = importlib.import_module(moved_to(module.__name__))

    def get_code(self, fullname):
        """For `python -m convzoo.tasks.complexity`: runpy asks for the code to run as __main__.
        That code runs the new module as __main__ in its own package, where its relative
        imports resolve."""
        return compile(f"import runpy; runpy.run_module({moved_to(fullname)!r}, run_name='__main__', alter_sys=True)",
                       fullname, "exec")


if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
    sys.meta_path.insert(0, _MovedModules())
