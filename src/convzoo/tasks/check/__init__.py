"""`convzoo check DATA`: what is wrong with a dataset before a model trains on it.

    from convzoo.tasks.check import check_dataset, check_samples
    report = check_dataset("my_images/", image_size=224)
    report.errors, report.warnings, report.summary_line(), report.excluded_paths()

scan (decode every image once, in parallel: mode, size, an exact hash of the
pixels, a perceptual hash), near (the near-duplicate search and its measured
threshold), findings (the rules -> DataReport), output (table, JSON), run
(check_dataset for any layout, check_samples for a training run's split).
Errors: unreadable files, an image under two classes, train/val leakage.
Warnings: copies within a class, images much smaller than the input, unusual
modes. Notes: a greyscale set for an RGB model.
"""
from .findings import KINDS, DataReport, Finding
from .near import NEAR_THRESHOLD
from .run import DEFAULT_IMAGE_SIZE, check_dataset, check_samples

__all__ = ["DEFAULT_IMAGE_SIZE", "KINDS", "NEAR_THRESHOLD", "DataReport", "Finding", "check_dataset", "check_samples"]
