"""Side-by-side timing: variants interleaved in rounds, medians, ratios to a baseline.

Every variant of a group is measured in every round, in a rotated order, so that a change
in machine load (other processes, CPU frequency) hits all of them alike. Each round runs a
batch of requests per variant; the ratio of a variant is the median over rounds of
(its median in the round / the baseline's median in the same round), and its latency is the
median of all its samples. Only the request itself is inside ``perf_counter_ns()``; checking
the status and remembering the new ETag happen outside.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Variant:
    """One way of serving the same request."""

    key: str  # e.g. "retrieve.ours", for --profile
    label: str
    send: Callable[[], Any]  # the timed part: one request, returns the response
    check: Callable[[Any], None]  # untimed: assert the status, track the ETag
    enter: Callable[[], None] | None = None  # untimed, before each batch (e.g. switch rules)
    count_queries: Callable[[], tuple[float, str]] | None = None  # (queries/request, note)


@dataclass
class Target:
    """One target of the issue, judged on one run: ``ratio`` (ours / the group's baseline)
    against ``limit``; ``detail`` says which other condition failed, if any."""

    row: str  # the operation, as the targets table names it
    variant: str
    ratio: float
    limit: str
    met: bool
    detail: str = ""


@dataclass
class Group:
    """Variants compared with each other; the first is the baseline."""

    key: str
    title: str
    variants: list[Variant]
    #: Called with {variant key: Measurement} after the run; returns the targets judged.
    judge: Callable[[dict[str, Measurement]], list[Target]] | None = None
    notes: list[str] = field(default_factory=list)
    #: Called once after the run; returns more notes (e.g. a one-off cost measured apart).
    after: Callable[[], list[str]] | None = None
    #: (curve name, this group's point on it): groups of one curve are printed together.
    curve: tuple[str, str] | None = None
    #: Fewer rounds for slow groups (e.g. pages of 1,000).
    rounds_factor: float = 1.0
    #: More timed seconds per variant for a group whose ratios move more from run to run
    #: than its target's margin (e.g. writes, whose times vary with the database file).
    seconds_factor: float = 1.0


@dataclass
class Measurement:
    variant: Variant
    samples_ns: list[int]
    round_medians_ns: list[float]
    ratios: list[float] = field(default_factory=list)  # per round, to the baseline
    queries: float = 0.0
    queries_note: str = ""

    @property
    def median_ns(self) -> float:
        return statistics.median(self.samples_ns)

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios) if self.ratios else 1.0

    @property
    def ratio_quartiles(self) -> tuple[float, float]:
        if len(self.ratios) < 4:
            return (min(self.ratios, default=1.0), max(self.ratios, default=1.0))
        quartiles = statistics.quantiles(self.ratios, n=4)
        return quartiles[0], quartiles[2]


@dataclass(frozen=True)
class Plan:
    rounds: int
    seconds_per_variant: float  # the timed budget of each variant over all rounds
    warmup_seconds: float
    min_batch: int = 3


def _run_batch(variant: Variant, count: int) -> list[int]:
    send, check, clock = variant.send, variant.check, time.perf_counter_ns
    samples = []
    for _ in range(count):
        start = clock()
        response = send()
        samples.append(clock() - start)
        check(response)
    return samples


def _warm_up(variant: Variant, seconds: float) -> float:
    """Run the variant for about ``seconds`` (at least 20 requests); return the mean time
    of one request in seconds, to size the batches."""
    if variant.enter is not None:
        variant.enter()
    count, started = 0, time.perf_counter()
    while count < 20 or time.perf_counter() - started < seconds:
        check = variant.check
        check(variant.send())
        count += 1
    return (time.perf_counter() - started) / count


def measure(group: Group, plan: Plan, progress: Callable[[str], None]) -> dict[str, Measurement]:
    variants = group.variants
    started = time.perf_counter()
    rounds = max(4, round(plan.rounds * group.rounds_factor))
    mean_seconds = {v.key: _warm_up(v, plan.warmup_seconds) for v in variants}
    batch = {
        key: max(
            plan.min_batch,
            round(plan.seconds_per_variant * group.seconds_factor / rounds / seconds),
        )
        for key, seconds in mean_seconds.items()
    }
    results = {v.key: Measurement(v, [], []) for v in variants}
    # Objects that live for the whole run go to the permanent generation: the collection
    # before each batch then only sees the garbage of the previous batch.
    gc.collect()
    gc.freeze()
    for round_index in range(rounds):
        shift = round_index % len(variants)
        order = variants[shift:] + variants[:shift]
        if round_index % 2:
            order.reverse()
        for variant in order:
            if variant.enter is not None:
                variant.enter()
            gc.collect()
            samples = _run_batch(variant, batch[variant.key])
            result = results[variant.key]
            result.samples_ns.extend(samples)
            result.round_medians_ns.append(statistics.median(samples))
        progress(f"\r  {group.title}: round {round_index + 1}/{rounds}")
    progress(f" ({time.perf_counter() - started:.0f} s)\n")
    gc.unfreeze()
    baseline = results[variants[0].key]
    for result in results.values():
        result.ratios = [
            mine / base
            for mine, base in zip(result.round_medians_ns, baseline.round_medians_ns, strict=True)
        ]
    for variant in variants:
        if variant.count_queries is not None:
            if variant.enter is not None:
                variant.enter()
            results[variant.key].queries, results[variant.key].queries_note = (
                variant.count_queries()
            )
    return results
