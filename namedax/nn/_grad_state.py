"""State that the backward pass computes: carried in the gradient, written, not added.

Delayed-scaling fp8 keeps per-layer scales and amax histories that only the backward
pass knows how to update (the output-gradient scale needs the gradient). The update
rides on the gradient: the custom VJP of the quantised matmul returns the *new* value
of that state as its "gradient". A training step then has to treat those leaves
differently from parameters:

1. `partition_for_grad_overwrite(grads)` splits the gradient into the state part
   (`OverwriteWithGradient` modules) and the ordinary part;
2. the optimizer sees only the ordinary part;
3. `apply_updates(model, updates, overwrites)` adds the updates and writes the state.

With microbatching, gradients of several microbatches are summed; state is not a sum,
so `accumulate_gradients` combines it with the state's own `accumulate` method
(`CustomGradientAccumulation`) and adds everything else.

Examples:
    >>> class Counter(CustomGradientAccumulation):
    ...     seen: jax.Array
    ...     def accumulate(self, other):
    ...         return Counter(jnp.maximum(self.seen, other.seen))
    >>> model = {"w": jnp.zeros(2), "state": Counter(jnp.array(0.0))}
    >>> g1 = {"w": jnp.ones(2), "state": Counter(jnp.array(3.0))}
    >>> g2 = {"w": jnp.ones(2), "state": Counter(jnp.array(5.0))}
    >>> grads = accumulate_gradients(g1, g2)
    >>> overwrites, grads = partition_for_grad_overwrite(grads)
    >>> updates = jax.tree.map(lambda g: -0.5 * g, grads)
    >>> new = apply_updates(model, updates, overwrites)
    >>> new["w"].tolist(), float(new["state"].seen)
    ([-1.0, -1.0], 5.0)
"""

from __future__ import annotations

from typing import Any, TypeVar

import equinox as eqx
import jax

from namedax.core._array import NamedArray
from namedax.core._errors import describe

__all__ = [
    "CustomGradientAccumulation",
    "OverwriteWithGradient",
    "accumulate_gradients",
    "apply_updates",
    "partition_for_grad_overwrite",
]

T = TypeVar("T")


class OverwriteWithGradient(eqx.Module):
    """Marks a module whose gradient is its next value, not an update to add.

    Subclass it for state that the backward pass computes; `apply_updates` then
    replaces such a module with its "gradient" instead of adding the optimizer's update.
    Under `accumulate_gradients` the later microbatch's value wins; subclass
    `CustomGradientAccumulation` to combine microbatches some other way.
    """

    def accumulate(self, other: Any) -> Any:
        """The state after `self`'s microbatch and then `other`'s: `other`, by default."""
        return other


class CustomGradientAccumulation(OverwriteWithGradient):
    """Gradient-carried state with its own (associative) microbatch reduction.

    Subclasses implement `accumulate(self, other)`. `accumulate_gradients` calls it
    with the running value as `self`; the first call's `self` is the zero-filled
    accumulator a trainer starts from, which `accumulate` must treat as "nothing seen
    yet". Like every `OverwriteWithGradient`, the result replaces the model's state in
    `apply_updates` instead of going through the optimizer.
    """

    def accumulate(self, other: Any) -> Any:
        """Combines the state of two gradient evaluations (subclasses define it)."""
        raise NotImplementedError(
            f"{type(self).__name__}.accumulate: a CustomGradientAccumulation subclass must "
            "define accumulate(self, other) to combine the state of two microbatches (or "
            "subclass OverwriteWithGradient to keep the later one)."
        )


def _is_state(x: Any) -> bool:
    return isinstance(x, OverwriteWithGradient)


def _is_state_or_named(x: Any) -> bool:
    return isinstance(x, (OverwriteWithGradient, NamedArray))


def _is_none_state_or_named(x: Any) -> bool:
    return x is None or _is_state_or_named(x)


def partition_for_grad_overwrite(grads: T) -> tuple[T, T]:
    """Splits gradients into `(overwrites, updates)`: `OverwriteWithGradient` parts and the rest.

    Both trees have the structure of `grads`, with `None` where the other one holds a leaf
    (`equinox.partition`). Feed `updates` to the optimizer and both to `apply_updates`.

    Examples:
        >>> class Scale(OverwriteWithGradient):
        ...     value: jax.Array
        >>> grads = {"w": jnp.ones(2), "scale": Scale(jnp.array(4.0))}
        >>> overwrites, updates = partition_for_grad_overwrite(grads)
        >>> overwrites["w"] is None, updates["scale"] is None
        (True, True)
    """
    overwrites, updates = eqx.partition(grads, _is_state, is_leaf=_is_state_or_named)
    return overwrites, updates


def apply_updates(model: T, updates: Any, overwrites: Any) -> T:
    """`equinox.apply_updates(model, updates)`, except where `overwrites` holds a value.

    Args:
        model: The parameters.
        updates: The optimizer's updates (a prefix tree of `model`; `None` keeps a leaf).
        overwrites: The first tree of `partition_for_grad_overwrite`: its modules replace
            the model's.

    Returns:
        The updated model.

    Examples:
        >>> class Scale(OverwriteWithGradient):
        ...     value: jax.Array
        >>> model = {"w": jnp.zeros(2), "scale": Scale(jnp.array(1.0))}
        >>> grads = {"w": jnp.ones(2), "scale": Scale(jnp.array(4.0))}
        >>> overwrites, updates = partition_for_grad_overwrite(grads)
        >>> new = apply_updates(model, updates, overwrites)
        >>> new["w"].tolist(), float(new["scale"].value)
        ([1.0, 1.0], 4.0)
    """

    def apply(leaf: Any, update: Any, overwrite: Any) -> Any:
        if overwrite is not None:
            return overwrite
        if update is None:
            return leaf
        return eqx.apply_updates(leaf, update)

    return jax.tree_util.tree_map(
        apply, model, updates, overwrites, is_leaf=_is_none_state_or_named
    )


def accumulate_gradients(accumulated: T, gradient: T) -> T:
    """Adds `gradient` to `accumulated`, combining gradient-carried state with `accumulate`.

    Ordinary leaves are summed (a `None` on either side takes the other side);
    `OverwriteWithGradient` modules are combined with `accumulated_state.accumulate(new)`.
    This is the microbatch reduction of a trainer that splits a batch.

    Args:
        accumulated: The running total (start from zeros shaped like a gradient).
        gradient: The next microbatch's gradient, with the same structure.

    Returns:
        The new running total.

    Raises:
        TypeError: If a state module meets a leaf of another kind (the two trees do not
            line up).

    Examples:
        >>> total = {"w": jnp.zeros(2)}
        >>> total = accumulate_gradients(total, {"w": jnp.ones(2)})
        >>> accumulate_gradients(total, {"w": jnp.ones(2)})["w"].tolist()
        [2.0, 2.0]
    """

    def combine(acc: Any, new: Any) -> Any:
        if isinstance(acc, OverwriteWithGradient) or isinstance(new, OverwriteWithGradient):
            if type(acc) is not type(new):
                raise TypeError(
                    "accumulate_gradients: gradient-carried state of type "
                    f"{type(acc).__name__} meets {describe(new)} in the next gradient; both "
                    "trees must hold the same state type at the same place (was the model "
                    "quantised differently between the two gradient evaluations?)."
                )
            return acc.accumulate(new)
        if acc is None:
            return new
        if new is None:
            return acc
        return acc + new

    return jax.tree_util.tree_map(combine, accumulated, gradient, is_leaf=_is_none_state_or_named)
