"""How long a piece of work takes: the median of timed calls, for the benchmarks."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_seconds(work: Callable[[], object], warmup: int, calls: int,
                   sync: Callable[[], None] = lambda: None) -> float:
    """Median seconds of ``work()`` over ``calls`` timed calls after ``warmup`` untimed ones;
    ``sync()`` (a device's synchronisation) runs before and after each, inside the timing."""
    times = []
    for call in range(warmup + calls):
        sync()
        start = time.perf_counter()
        work()
        sync()
        if call >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)
