"""Choosing which tenants leave a cell: the lightest set that frees enough on both limits.

A covering knapsack: pick at least `count` tenants whose daily requests add up to at least
`requests`, with the smallest total. It is NP-hard in general; three constructions (the lightest
tenants first, the heaviest that still fit the need first, a single tenant as large as the need)
followed by swaps that lower the total land within a small tenant's load of the optimum, which
is what keeps a rebalance near its lower bound. Greedy alone would move one big tenant where
several small ones suffice, or several where one swap would do.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Protocol, TypeVar


class Weighted(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def requests(self) -> int: ...


T = TypeVar("T", bound=Weighted)


def cover(items: Sequence[T], count: int, requests: int) -> list[T] | None:
    """The lightest subset with at least `count` items and at least `requests` in total, or `None`."""
    ordered = sorted(items, key=lambda t: (t.requests, t.id))
    weights = [t.requests for t in ordered]
    count, requests = max(count, 0), max(requests, 0)
    if count > len(ordered) or sum(weights) < requests:
        return None
    if sum(weights[:count]) >= requests:
        return list(ordered[:count])  # the `count` lightest: no set of `count` or more can weigh less
    everything = range(len(ordered))
    lightest = list(range(count))
    candidates = [
        _pad(_fill(weights, everything, requests), weights, count),
        lightest + _fill(weights, range(count, len(ordered)), requests - sum(weights[:count])),
    ]
    single = bisect.bisect_left(weights, requests)
    if single < len(weights):
        candidates.append(_pad([single], weights, count))
    best = min((_improve(c, weights, count, requests) for c in candidates), key=lambda c: sum(weights[i] for i in c))
    return [ordered[i] for i in sorted(best)]


def _fill(weights: list[int], available: range, need: int) -> list[int]:
    """Heaviest first, each taken only if it does not overshoot, then the lightest that closes the gap."""
    chosen: list[int] = []
    for i in reversed(available):
        if need <= 0:
            break
        if weights[i] <= need:
            chosen.append(i)
            need -= weights[i]
    if need > 0:
        taken = set(chosen)
        rest = [i for i in available if i not in taken]
        # Every weight left is larger than the gap (the pass above would have taken it otherwise).
        closing = next((i for i in rest if weights[i] >= need), None)
        if closing is not None:
            chosen.append(closing)
        else:
            chosen.extend(rest)
    return chosen


def _pad(chosen: list[int], weights: list[int], count: int) -> list[int]:
    """Add the lightest items not chosen until there are `count`."""
    taken = set(chosen)
    extra = [i for i in range(len(weights)) if i not in taken][: max(0, count - len(chosen))]
    return chosen + extra


def _improve(chosen: list[int], weights: list[int], count: int, need: int) -> list[int]:
    """Drop items the need does not require and swap items for lighter ones while the set still covers."""
    selected = set(chosen)
    total = sum(weights[i] for i in selected)
    for _ in range(4):
        changed = False
        # Drop the heaviest item the slack allows, while more than `count` remain.
        for i in sorted(selected, key=lambda i: -weights[i]):
            if len(selected) > count and weights[i] <= total - need:
                selected.discard(i)
                total -= weights[i]
                changed = True
        # Swap an item for the lightest outside one that still covers the need.
        outside = sorted((weights[i], i) for i in range(len(weights)) if i not in selected)
        for i in sorted(selected, key=lambda i: -weights[i]):
            slack = total - need
            at = bisect.bisect_left(outside, (weights[i] - slack, -1))
            if at < len(outside) and outside[at][0] < weights[i]:
                weight, j = outside.pop(at)
                selected.discard(i)
                selected.add(j)
                bisect.insort(outside, (weights[i], i))
                total += weight - weights[i]
                changed = True
        if not changed:
            break
    return sorted(selected)
