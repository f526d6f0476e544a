"""Timing helpers: median per-call times, so one slow outlier does not decide a ratio."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import jax


def eager_call_time(fn: Callable[[], Any], *, calls: int = 2000, group: int = 50) -> float:
    """Median seconds per call of `fn()` (result blocked on), over groups of `group` calls."""
    for _ in range(50):
        jax.block_until_ready(fn())
    means = []
    for _ in range(max(calls // group, 1)):
        start = time.perf_counter()
        for _ in range(group):
            jax.block_until_ready(fn())
        means.append((time.perf_counter() - start) / group)
    return statistics.median(means)


def trace_time(fn: Callable[..., Any], *args: Any, repeats: int = 15) -> float:
    """Median seconds to trace `jax.jit(fn)` on `args` (a fresh jit each time, so no cache)."""
    return _fresh_jit_time(lambda jitted: jitted.trace(*args), fn, repeats)


def compile_time(fn: Callable[..., Any], *args: Any, repeats: int = 7) -> float:
    """Median seconds to lower and compile `jax.jit(fn)` on `args` (fresh each time)."""
    return _fresh_jit_time(lambda jitted: jitted.lower(*args).compile(), fn, repeats)


def _fresh_jit_time(stage: Callable[[Any], Any], fn: Callable[..., Any], repeats: int) -> float:
    """Median seconds of `stage(jax.jit(fn))`, with a new jit wrapper (empty caches) each time."""
    times = []
    for _ in range(repeats):
        jitted = jax.jit(lambda *a: fn(*a))
        start = time.perf_counter()
        stage(jitted)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def print_table(title: str, header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """Prints a Markdown table (so it can be pasted into notes as it is)."""
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(_cell(c) for c in row) + " |")


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)
