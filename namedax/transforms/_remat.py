"""Rematerialisation policies for scans: what a scan keeps for the backward pass.

A scan over `N` steps normally saves every intermediate value of every step for
the backward pass. A `ScanCheckpointPolicy` trades memory for recomputation:

* the per-step body is wrapped in `jax.checkpoint`, so by default a step keeps
  only its input carry (one carry per step) and recomputes its internals;
* names listed in `save_block_internals` (values tagged inside the body with
  `jax.ad_checkpoint.checkpoint_name`) are kept instead of recomputed;
* carries or inputs may be offloaded to host memory;
* `nested` splits the `N` steps into `outer x inner` blocks *inside the call*
  (stored arrays keep their shapes) and checkpoints each block, so only about
  `2 sqrt(N)` carries are alive at once.

Only the values a policy actually uses are tagged: tagging every scanned input
would make the forward pass save a copy of each step's slice (e.g. every layer's
weights), so inputs are tagged only when `save_inputs` asks for it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import equinox as eqx
import jax
from jax import lax
from jax.ad_checkpoint import checkpoint_name

__all__ = [
    "RematSpec",
    "ScanCheckpointPolicy",
    "ScanCheckpointSpec",
    "apply_remat",
    "run_scan",
]

CARRY_NAME = "namedax.scan.carry"
"""The `checkpoint_name` given to carries when a policy offloads them."""

INPUT_NAME = "namedax.scan.input"
"""The `checkpoint_name` given to per-step inputs when a policy saves or offloads them."""

_ALIASES = ("full", "recompute", "nested", "offload", "save_all")

Saving: TypeAlias = bool | Literal["offload"]


@dataclass(frozen=True)
class ScanCheckpointPolicy:
    """What a scan keeps for the backward pass, and what it recomputes.

    Args:
        save_carries: `True` keeps the carry entering each step (this is how a scan's
            backward pass restarts a step). `False` is accepted, as in Haliax, and
            behaves like `True`: the carry entering a checkpointed step is that step's
            input, which `jax.checkpoint` always keeps; use `nested` to keep fewer.
            `"offload"` keeps them in host memory instead.
        save_inputs: `False` (default) reads each step's inputs from the scanned
            arrays again. `True` saves a separate copy of each step's slice (rarely
            useful: it costs a copy of every layer's weights); `"offload"` saves
            that copy to host memory.
        save_block_internals: `False` recomputes everything inside a step; a list of
            names keeps the values tagged with those names by
            `jax.ad_checkpoint.checkpoint_name` inside the step; `True` keeps every
            intermediate (no rematerialisation at all).
        offload_block_internals: Names (tagged as for `save_block_internals`) whose
            values are kept in host memory instead of being recomputed.
        nested: `False`, `True` (split the scan into about `sqrt(N)` blocks of about
            `sqrt(N)` steps, recomputing a whole block in the backward pass), or an
            int: the number of outer blocks. When the block size does not divide
            `N`, the remaining steps run as a short extra scan.
        prevent_cse: Passed to `jax.checkpoint`; `False` is right inside scans.
        disable: `True` switches checkpointing off entirely: everything is kept, and
            `nested` is ignored (the same as `remat=False`).
        simple: `True` wraps each step in a plain `jax.checkpoint` that keeps nothing
            but the step's inputs; the `save_*` and `offload_*` settings are ignored.

    Raises:
        ValueError: For a setting that a scan cannot honour.

    Examples:
        >>> ScanCheckpointPolicy.from_remat("nested")
        ScanCheckpointPolicy(save_carries=True, save_inputs=False, save_block_internals=False, \
offload_block_internals=(), prevent_cse=False, disable=False, simple=False, nested=True)
        >>> ScanCheckpointPolicy(save_block_internals=["attn"]).checkpoint_policy() is not None
        True
    """

    save_carries: Saving = True
    save_inputs: Saving = False
    save_block_internals: bool | Sequence[str] = False
    offload_block_internals: Sequence[str] = ()
    prevent_cse: bool = False
    disable: bool = False
    simple: bool = False
    nested: bool | int = False

    def __post_init__(self):
        if self.save_carries not in (False, True, "offload"):
            raise ValueError(
                f"ScanCheckpointPolicy: save_carries must be True, False or 'offload', got "
                f"{self.save_carries!r}."
            )
        offload = self.offload_block_internals
        if isinstance(offload, str) or not all(isinstance(n, str) for n in offload):
            raise TypeError(
                "ScanCheckpointPolicy: offload_block_internals must be a list of checkpoint "
                f"names, got {offload!r}."
            )
        object.__setattr__(self, "offload_block_internals", tuple(offload))
        if self.save_inputs not in (False, True, "offload"):
            raise ValueError(
                f"ScanCheckpointPolicy: save_inputs must be False, True or 'offload', got "
                f"{self.save_inputs!r}."
            )
        internals = self.save_block_internals
        if not isinstance(internals, bool):
            if isinstance(internals, str) or not all(isinstance(n, str) for n in internals):
                raise TypeError(
                    "ScanCheckpointPolicy: save_block_internals must be a bool or a list of "
                    f"checkpoint names, got {internals!r}."
                )
            object.__setattr__(self, "save_block_internals", tuple(internals))
        if internals is True and self._offloaded_names(CARRY_NAME, INPUT_NAME):
            raise ValueError(
                "ScanCheckpointPolicy: save_block_internals=True keeps every intermediate on the "
                "device, so nothing can be offloaded; drop the 'offload' settings or list the "
                "internals to keep."
            )
        nested = self.nested
        if not isinstance(nested, bool) and (not isinstance(nested, int) or nested < 1):
            raise ValueError(
                f"ScanCheckpointPolicy: nested must be a bool or a number of blocks >= 1, got "
                f"{nested!r}."
            )

    @staticmethod
    def from_remat(remat: RematSpec) -> ScanCheckpointPolicy:
        """Converts a `remat=` argument to a policy.

        Args:
            remat: `False` or `"save_all"` (keep everything, no recomputation), `True`,
                `"full"` or `"recompute"` (keep one carry per step), `"nested"` (about `2 sqrt(N)`
                carries), `"offload"` (carries kept in host memory; on a backend
                without host memory this behaves like `"full"`), or a policy.

        Raises:
            ValueError: For an unknown string. TypeError: For another kind of value.

        Examples:
            >>> ScanCheckpointPolicy.from_remat(False).save_block_internals
            True
        """
        if isinstance(remat, ScanCheckpointPolicy):
            return remat
        if remat is False or remat == "save_all":
            return _SAVE_ALL
        if remat is True or remat in ("full", "recompute"):
            return _FULL
        if remat == "nested":
            return _NESTED
        if remat == "offload":
            return _OFFLOAD if _host_memory_available() else _FULL
        if isinstance(remat, str):
            raise ValueError(
                f"remat={remat!r} is not a known policy. Use one of False, True, "
                f"{', '.join(repr(a) for a in _ALIASES)}, or a ScanCheckpointPolicy."
            )
        raise TypeError(
            f"remat must be a bool, one of {', '.join(repr(a) for a in _ALIASES)}, or a "
            f"ScanCheckpointPolicy; got {type(remat).__name__}: {remat!r}."
        )

    @staticmethod
    def from_bool_or_str(remat_policy: bool | str) -> ScanCheckpointPolicy:
        """Haliax's name for `from_remat`: the policy for `True`, `False` or a policy name.

        Examples:
            >>> ScanCheckpointPolicy.from_bool_or_str("recompute") == ScanCheckpointPolicy()
            True
        """
        return ScanCheckpointPolicy.from_remat(remat_policy)

    _mk = from_remat  # Haliax's private name, which Haliax-based models call

    def checkpoint(
        self, carry_name: str, input_name: str, callable: Callable[..., Any]
    ) -> Callable[..., Any]:
        """`callable` under this policy: `equinox.filter_checkpoint` with the policy's rule.

        For a step that tags its carry and inputs with `checkpoint_name(..., carry_name)` /
        `(..., input_name)` itself (Haliax's spelling; namedax's scans apply policies).

        Examples:
            >>> f = ScanCheckpointPolicy(save_inputs=True).checkpoint("c", "x", lambda a: a * 2)
            >>> f(jnp.ones(2))
            Array([2., 2.], dtype=float32)
        """
        policy = self.checkpoint_policy(carry_name, input_name)
        if policy is None:
            return callable
        return eqx.filter_checkpoint(callable, policy=policy, prevent_cse=self.prevent_cse)

    @property
    def rematerialises(self) -> bool:
        """Whether the per-step body is wrapped in `jax.checkpoint` at all."""
        if self.disable:
            return False
        return self.simple or self.save_block_internals is not True

    def _offloaded_names(self, carry_name: str, input_name: str) -> list[str]:
        if self.simple:
            return []
        names = list(self.offload_block_internals)
        if self.save_carries == "offload":
            names.append(carry_name)
        if self.save_inputs == "offload":
            names.append(input_name)
        return names

    def checkpoint_policy(
        self, carry_name: str = CARRY_NAME, input_name: str = INPUT_NAME
    ) -> Callable[..., Any] | None:
        """The `jax.checkpoint` policy for one step, or `None` if steps are not rematerialised.

        `carry_name` and `input_name` are the `checkpoint_name`s the step's carry and inputs
        are tagged with (namedax's scans use the defaults).
        """
        if not self.rematerialises:
            return None
        if self.simple:
            return jax.checkpoint_policies.nothing_saveable
        internals = self.save_block_internals
        saved = list(internals) if isinstance(internals, tuple) else []
        if self.save_inputs is True:
            saved.append(input_name)
        offloaded = self._offloaded_names(carry_name, input_name)
        policies = jax.checkpoint_policies
        if offloaded:
            return policies.save_and_offload_only_these_names(
                names_which_can_be_saved=saved,
                names_which_can_be_offloaded=offloaded,
                offload_src="device",
                offload_dst="pinned_host",
            )
        if saved:
            return policies.save_only_these_names(*saved)
        return policies.nothing_saveable

    def blocks(self, length: int) -> tuple[int, int, int] | None:
        """How `nested` splits `length` steps: `(outer, inner, remainder)`, or `None`.

        Examples:
            >>> ScanCheckpointPolicy(nested=True).blocks(64)
            (8, 8, 0)
            >>> ScanCheckpointPolicy(nested=True).blocks(13)  # prime: a remainder scan
            (3, 4, 1)
            >>> ScanCheckpointPolicy(nested=4).blocks(10)
            (4, 2, 2)
        """
        if self.disable or self.nested is False or length < 2:
            return None
        if self.nested is True:
            inner = _block_size(length)
            return length // inner, inner, length % inner
        if self.nested > length:
            raise ValueError(
                f"ScanCheckpointPolicy: nested={self.nested} asks for more blocks than the "
                f"{length} steps of the scan. Use nested=True or at most {length} blocks."
            )
        inner = length // self.nested
        return self.nested, inner, length - self.nested * inner


_SAVE_ALL = ScanCheckpointPolicy(save_block_internals=True)
_FULL = ScanCheckpointPolicy()
_NESTED = ScanCheckpointPolicy(nested=True)
_OFFLOAD = ScanCheckpointPolicy(save_carries="offload")

ScanCheckpointSpec: TypeAlias = (
    ScanCheckpointPolicy | bool | Literal["offload", "recompute", "full", "save_all", "nested"]
)
"""What `remat=` and `gradient_checkpointing=` accept: `False`, `True`, `"full"`,
`"recompute"`, `"nested"`, `"offload"`, `"save_all"` or a `ScanCheckpointPolicy`
(Haliax's name; convert one with `ScanCheckpointPolicy.from_remat`)."""

RematSpec: TypeAlias = ScanCheckpointSpec | str
"""namedax's name for `ScanCheckpointSpec` (strings are checked when converted)."""


@functools.cache
def _host_memory_available() -> bool:
    try:
        kinds = {m.kind for m in jax.devices()[0].addressable_memories()}
    except Exception:  # backends without memory spaces
        return False
    return "pinned_host" in kinds


def _block_size(n: int) -> int:
    """A block size near sqrt(n): the nearest divisor if it is close, else round(sqrt(n))."""
    root = math.isqrt(n)
    for delta in range(root // 2 + 1):
        for d in (root - delta, root + delta + 1):
            if 1 < d < n and n % d == 0:
                return d
    return max(1, round(math.sqrt(n)))


def _tag(tree: Any, name: str) -> Any:
    return jax.tree_util.tree_map(lambda x: checkpoint_name(x, name), tree)


def apply_remat(step: Callable[[Any, Any], Any], policy: ScanCheckpointPolicy) -> Callable:
    """Wraps a scan step `step(carry, x) -> (carry, y)` in the policy's `jax.checkpoint`.

    Carries and inputs are tagged with `checkpoint_name` only when the policy saves or
    offloads them by name. `nested` is not handled here (see `run_scan`).

    Examples:
        >>> step = lambda c, x: (c * x, c)
        >>> remat_step = apply_remat(step, ScanCheckpointPolicy())
        >>> remat_step(jnp.array(2.0), jnp.array(3.0))
        (Array(6., dtype=float32...), Array(2., dtype=float32...))
    """
    policy_fn = policy.checkpoint_policy()
    if policy_fn is None:
        return step
    tag_carry = policy.save_carries == "offload" and not policy.simple
    tag_input = policy.save_inputs is not False and not policy.simple

    def tagged(carry: Any, x: Any) -> Any:
        if tag_carry:
            carry = _tag(carry, CARRY_NAME)
        if tag_input:
            x = _tag(x, INPUT_NAME)
        return step(carry, x)

    body = tagged if (tag_carry or tag_input) else step
    return jax.checkpoint(body, policy=policy_fn, prevent_cse=policy.prevent_cse)


def run_scan(
    step: Callable[[Any, Any], Any],
    init: Any,
    xs: Any,
    length: int,
    *,
    policy: ScanCheckpointPolicy,
    reverse: bool = False,
    unroll: int | bool = 1,
) -> tuple[Any, Any]:
    """`jax.lax.scan` of `step` over the leading dimension of `xs`, under a remat policy.

    This is the positional engine behind `namedax.scan`; `xs` holds plain arrays that all
    have leading dimension `length`. With `policy.nested`, the steps are grouped into
    checkpointed blocks by reshaping `xs` inside the call; outputs are stacked back to
    leading dimension `length`.

    Examples:
        >>> xs = jnp.arange(1.0, 5.0)
        >>> policy = ScanCheckpointPolicy(nested=2)
        >>> run_scan(lambda c, x: (c + x, c), jnp.zeros(()), xs, 4, policy=policy)
        (Array(10., dtype=float32), Array([0., 1., 3., 6.], dtype=float32))
    """
    body = apply_remat(step, policy)
    blocks = policy.blocks(length)
    if blocks is None:
        return lax.scan(body, init, xs, length=length, reverse=reverse, unroll=unroll)
    outer, inner, rem = blocks
    head = outer * inner

    def cut(start: int, stop: int) -> Any:
        if start == 0 and stop == length:
            return xs
        return jax.tree_util.tree_map(lambda x: x[start:stop], xs)

    head_xs = jax.tree_util.tree_map(
        lambda x: x.reshape((outer, inner, *x.shape[1:])), cut(0, head)
    )

    @functools.partial(jax.checkpoint, prevent_cse=policy.prevent_cse)
    def block(carry: Any, block_xs: Any) -> Any:
        return lax.scan(body, carry, block_xs, length=inner, reverse=reverse, unroll=unroll)

    def run_head(carry: Any) -> tuple[Any, Any]:
        carry, ys = lax.scan(block, carry, head_xs, length=outer, reverse=reverse)
        return carry, jax.tree_util.tree_map(lambda y: y.reshape((head, *y.shape[2:])), ys)

    def run_tail(carry: Any) -> tuple[Any, Any]:
        return lax.scan(body, carry, cut(head, length), length=rem, reverse=reverse, unroll=unroll)

    if rem == 0:
        return run_head(init)
    if reverse:
        carry, ys_tail = run_tail(init)
        carry, ys_head = run_head(carry)
    else:
        carry, ys_head = run_head(init)
        carry, ys_tail = run_tail(carry)
    ys = jax.tree_util.tree_map(lambda a, b: jax.numpy.concatenate([a, b]), ys_head, ys_tail)
    return carry, ys
