"""Class-balanced sampling: every class drawn equally often, whatever its share of the images.

With 450 good parts and 50 defects, an epoch of plain shuffling shows the model
nine good parts per defect; drawing each image with probability 1 / (its
class's count), with replacement, shows it as many defects as good parts (each
defect about nine times, a good part about once). An epoch keeps its length:
as many draws as there are images.

The draws are seeded, so an epoch's are the same in a resumed run. Under
torchrun every process draws the same global list from the same seed and takes
its own interleaved share of it, as DistributedSampler does for shuffling: the
processes see disjoint draws of equal length (the remainder is dropped), and
together they see the balanced list a single process would.
"""
from __future__ import annotations

from typing import Iterator, Sequence

import torch
from torch.utils.data import Sampler


def class_counts(labels: Sequence[int], num_classes: int) -> list[int]:
    """Images per class index, 0 for a class with none."""
    counts = [0] * num_classes
    for label in labels:
        counts[label] += 1
    return counts


def balanced_draws(labels: Sequence[int], num_samples: int, seed: int) -> list[int]:
    """`num_samples` indices into `labels`, drawn with replacement so that each
    class is equally likely (an image's chance is 1 / (classes present x its class's count))."""
    labels_t = torch.as_tensor(list(labels), dtype=torch.long)
    counts = torch.bincount(labels_t)
    weights = 1.0 / counts[labels_t].double()
    generator = torch.Generator().manual_seed(seed)
    return torch.multinomial(weights, num_samples, replacement=True, generator=generator).tolist()


class ClassBalancedSampler(Sampler[int]):
    """Indices of a class-balanced draw of `num_samples` (default: every image's
    worth) from a dataset with these `labels`, seeded by `seed`; this process's
    share (`rank` of `world_size`: every world_size-th draw from `rank` on, all
    shares of the same length)."""

    def __init__(self, labels: Sequence[int], seed: int, num_samples: int | None = None, rank: int = 0,
                 world_size: int = 1):
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not one of the {world_size} processes")
        self.labels = list(labels)
        self.seed = seed
        self.total = len(self.labels) if num_samples is None else num_samples
        self.rank, self.world_size = rank, world_size
        self.per_rank = self.total // world_size  # the remainder is dropped, so every process steps as often

    def __iter__(self) -> Iterator[int]:
        draws = balanced_draws(self.labels, self.total, self.seed)
        return iter(draws[self.rank:self.per_rank * self.world_size:self.world_size])

    def __len__(self) -> int:
        return self.per_rank


__all__ = ["ClassBalancedSampler", "balanced_draws", "class_counts"]
