"""The class-balanced sampler (--balance sampler): balanced draws, seeded, and under
torchrun an equal, disjoint share of one global draw per process."""
from collections import Counter

import pytest

from convzoo.data.sampling import ClassBalancedSampler, balanced_draws, class_counts

LABELS = [0] * 90 + [1] * 10  # 9:1, as a defect set


def _share_of_ones(indices):
    return sum(LABELS[i] for i in indices) / len(indices)


def test_draws_are_balanced_over_many_epochs():
    draws = [i for seed in range(20) for i in ClassBalancedSampler(LABELS, seed)]
    assert len(draws) == 20 * len(LABELS)
    assert _share_of_ones(draws) == pytest.approx(0.5, abs=0.04)
    # Every rare image is drawn, about nine times an epoch; the common ones about once.
    counts = Counter(draws)
    assert all(counts[i] > 0 for i in range(90, 100))
    assert sum(counts[i] for i in range(90, 100)) / 10 > 5 * sum(counts[i] for i in range(90)) / 90


def test_draws_are_seeded_and_reproducible():
    assert list(ClassBalancedSampler(LABELS, 7)) == list(ClassBalancedSampler(LABELS, 7))
    assert list(ClassBalancedSampler(LABELS, 7)) != list(ClassBalancedSampler(LABELS, 8))
    assert len(ClassBalancedSampler(LABELS, 7)) == 100 and len(ClassBalancedSampler(LABELS, 7, num_samples=30)) == 30


def test_two_processes_take_disjoint_equal_shares_of_one_balanced_draw():
    labels = LABELS + [0]  # 101 images: the odd one out is dropped, so both processes step as often
    ranks = [ClassBalancedSampler(labels, 3, rank=r, world_size=2) for r in (0, 1)]
    shares = [list(s) for s in ranks]
    assert len(ranks[0]) == len(ranks[1]) == len(shares[0]) == len(shares[1]) == 50
    draws = balanced_draws(labels, 101, seed=3)  # what one process would draw
    assert shares[0] == draws[0:100:2] and shares[1] == draws[1:100:2]  # disjoint positions of the same list
    together = shares[0] + shares[1]
    assert sorted(together) == sorted(draws[:100])
    assert sum(labels[i] for i in together) / len(together) == pytest.approx(0.5, abs=0.15)
    many = [i for seed in range(20) for r in (0, 1) for i in ClassBalancedSampler(labels, seed, rank=r, world_size=2)]
    assert sum(labels[i] for i in many) / len(many) == pytest.approx(0.5, abs=0.04)


def test_class_counts_and_a_bad_rank():
    assert class_counts([0, 2, 2], 4) == [1, 0, 2, 0]
    with pytest.raises(ValueError, match="rank 2 is not one of the 2 processes"):
        ClassBalancedSampler(LABELS, 0, rank=2, world_size=2)
