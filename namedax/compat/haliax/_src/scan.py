"""`haliax._src.scan`: the scan family and its checkpoint policy."""

import math
from typing import Any as _Any, Protocol as _Protocol

from namedax.transforms._remat import (
    ScanCheckpointPolicy as ScanCheckpointPolicy,
    ScanCheckpointSpec as ScanCheckpointSpec,
)
from namedax.transforms._scan import (
    fold as fold,
    is_named_or_shaped_array_like as is_named_or_shaped_array_like,
    map as map,
    scan as scan,
)


class ScanFn(_Protocol):
    """The type of a scan body: `(carry, *xs) -> (carry, y)`."""

    def __call__(self, carry: _Any, *args: _Any, **kwargs: _Any) -> tuple[_Any, _Any]: ...


def find_closest_divisible_int_to_sqrt(n: int) -> int:
    """The largest divisor of `n` that is at most `sqrt(n)` (the block count of a sqrt(N) remat).

    Raises:
        ValueError: If `n` is not positive.

    Examples:
        >>> find_closest_divisible_int_to_sqrt(12), find_closest_divisible_int_to_sqrt(7)
        (3, 1)
    """
    if n <= 0:
        raise ValueError(f"find_closest_divisible_int_to_sqrt: n must be positive, got {n}")
    for candidate in range(math.isqrt(n), 0, -1):
        if n % candidate == 0:
            return candidate
    return 1
