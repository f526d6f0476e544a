"""`named_jit` and `fsdp`: a filtered `jax.jit` that partitions inputs and outputs by name.

The arguments (and the function itself, if it is a pytree such as a module) are split
with Equinox's filtering: array leaves are traced, everything else is static and part
of the compilation cache key, together with the axis mappings in force. Inside the
trace the mapping is set with `axis_mapping`, inputs and outputs get sharding
constraints from their axis names (`shard`), and donated arguments are passed through
`jax.jit`'s `donate_argnums`.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, overload

import equinox as eqx
import jax

from namedax.core._errors import describe
from namedax.core._mapping import ResourceMapping, axis_mapping, current_axis_mapping
from namedax.parallel._pspec import mapping_key
from namedax.parallel._sharding import shard_tree

__all__ = ["fsdp", "named_jit"]


@jax.tree_util.register_static
class _Static:
    """Carries the non-array part of an output through `jax.jit` as pytree metadata."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value


def _donation_mask(donate: Any, tree: Any, where: str) -> Any:
    """A bool for every leaf of `tree`, from a prefix of bools or `leaf -> bool` callables."""

    def expand(flag: Any, subtree: Any) -> Any:
        if callable(flag):
            return jax.tree_util.tree_map(lambda leaf: bool(flag(leaf)), subtree)
        if not isinstance(flag, bool):
            raise TypeError(
                f"named_jit: {where} must hold bools or callables leaf -> bool, got "
                f"{describe(flag)}."
            )
        return jax.tree_util.tree_map(lambda _: flag, subtree)

    try:
        return jax.tree_util.tree_map(expand, donate, tree, is_leaf=callable)
    except ValueError as e:
        raise ValueError(
            f"named_jit: {where} must be a pytree prefix of the arguments it describes: {e}"
        ) from None


class NamedJitWrapped:
    """A function compiled by `named_jit`; call it, or `.lower(...)` it for inspection."""

    def __init__(
        self,
        fn: Callable[..., Any],
        axis_resources: ResourceMapping | None,
        in_axis_resources: ResourceMapping | None,
        out_axis_resources: ResourceMapping | None,
        donate_args: Any,
        donate_kwargs: Any,
        jit_kwargs: dict[str, Any],
    ):
        if not callable(fn):
            raise TypeError(f"named_jit: expected a callable, got {describe(fn)}.")
        functools.update_wrapper(self, fn)  # type: ignore[arg-type]
        self._fn = fn
        self._resources = axis_resources
        self._in = in_axis_resources
        self._out = out_axis_resources
        self._donate_args = donate_args
        self._donate_kwargs = donate_kwargs

        def run(donated: Any, kept: Any, static: tuple[Any, ...]) -> tuple[Any, _Static]:
            static_def, static_leaves, resources, in_res, out_res = static
            static_tree = jax.tree_util.tree_unflatten(static_def, static_leaves)
            if donated is None:
                fn, args, kwargs = eqx.combine(kept, static_tree)
            else:
                fn, args, kwargs = eqx.combine(donated, kept, static_tree)
            context = (
                axis_mapping(dict(resources)) if resources is not None else contextlib.nullcontext()
            )
            with context:
                if in_res is not None:
                    fn, args, kwargs = shard_tree(
                        (fn, args, kwargs), dict(in_res), None, "named_jit"
                    )
                out = fn(*args, **kwargs)
                if out_res is not None:
                    out = shard_tree(out, dict(out_res), None, "named_jit")
            out_dynamic, out_static = eqx.partition(out, eqx.is_array)
            return out_dynamic, _Static(out_static)

        run.__name__ = getattr(fn, "__name__", type(fn).__name__)
        run.__qualname__ = getattr(fn, "__qualname__", run.__name__)
        self._jitted = jax.jit(run, static_argnums=2, donate_argnums=0, **jit_kwargs)

    def _split(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any, Any]:
        resources = self._resources if self._resources is not None else current_axis_mapping()
        out_res = self._out if self._out is not None else resources
        keys = tuple(
            None if m is None else mapping_key(m, "named_jit")
            for m in (resources, self._in, out_res)
        )
        tree = (self._fn, args, kwargs)
        dynamic, static = eqx.partition(tree, _is_dynamic)
        static_leaves, static_def = jax.tree_util.tree_flatten(static)
        static_key = (static_def, tuple(static_leaves), *keys)
        try:
            hash(static_key)
        except TypeError:
            bad = next(x for x in static_leaves if not _hashable(x))
            raise TypeError(
                f"named_jit: every non-array argument is static and must be hashable, but "
                f"{describe(bad)} is not. Pass it as an array, or make it hashable."
            ) from None
        if self._donate_args is None and self._donate_kwargs is None:
            return None, dynamic, static_key
        mask = (
            jax.tree_util.tree_map(lambda _: False, self._fn),
            self._args_mask(args),
            self._kwargs_mask(kwargs),
        )
        donated, kept = eqx.partition(dynamic, mask)
        return donated, kept, static_key

    def _args_mask(self, args: tuple[Any, ...]) -> Any:
        donate = self._donate_args
        if donate is None or isinstance(donate, bool):
            donate = bool(donate)
        else:
            donate = tuple(donate)
            if len(donate) > len(args):
                raise ValueError(
                    f"named_jit: donate_args has {len(donate)} entries but the call has "
                    f"{len(args)} positional arguments; give at most one entry per argument."
                )
            donate = donate + (False,) * (len(args) - len(donate))
        return _donation_mask(donate, args, "donate_args")

    def _kwargs_mask(self, kwargs: dict[str, Any]) -> Any:
        donate = self._donate_kwargs
        if donate is None or isinstance(donate, bool):
            return _donation_mask(bool(donate), kwargs, "donate_kwargs")
        if not isinstance(donate, Mapping):
            raise TypeError(
                f"named_jit: donate_kwargs must be a bool or a dict keyed by argument name, got "
                f"{describe(donate)}."
            )
        flags = {name: donate.get(name, False) for name in kwargs}
        return _donation_mask(flags, kwargs, "donate_kwargs")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        donated, kept, static = self._split(args, kwargs)
        out_dynamic, out_static = self._jitted(donated, kept, static)
        return eqx.combine(out_dynamic, out_static.value)

    def lower(self, *args: Any, **kwargs: Any) -> jax.stages.Lowered:
        """Lowers the function for these arguments without running it (see `jax.jit`).

        Arguments may be `jax.ShapeDtypeStruct`s (e.g. from `eqx.filter_eval_shape`).
        """
        donated, kept, static = self._split(args, kwargs)
        return self._jitted.lower(donated, kept, static)

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        if instance is None:
            return self
        return functools.partial(self, instance)


def _is_dynamic(x: Any) -> bool:
    """Traced leaves: arrays, and `ShapeDtypeStruct`s (for `.lower` on abstract arguments)."""
    return eqx.is_array(x) or isinstance(x, jax.ShapeDtypeStruct)


def _hashable(x: Any) -> bool:
    try:
        hash(x)
    except TypeError:
        return False
    return True


def named_jit(
    fn: Callable[..., Any] | None = None,
    axis_resources: ResourceMapping | None = None,
    *,
    in_axis_resources: ResourceMapping | None = None,
    out_axis_resources: ResourceMapping | None = None,
    donate_args: Any = None,
    donate_kwargs: Any = None,
    **jit_kwargs: Any,
) -> Any:
    """Compiles `fn` with `jax.jit`, partitioning NamedArrays by their axis names.

    Array leaves of the arguments (and of `fn` itself, e.g. a module) are traced;
    every other leaf is static: hashed into the cache key, so a new value retraces.
    The mesh is the one set with `jax.set_mesh`.

    Args:
        fn: The function. Leave it out to use `named_jit(...)` as a decorator.
        axis_resources: The `axis_mapping` in force while `fn` is traced, so its own
            `shard`/`auto_sharded` calls use it. Defaults to the mapping in force at
            call time.
        in_axis_resources: If given, every NamedArray argument is constrained to this
            mapping on entry; otherwise arguments keep the sharding they arrive with.
        out_axis_resources: The mapping NamedArray outputs are partitioned with;
            defaults to `axis_resources`. With neither, outputs are unconstrained.
        donate_args: Which positional arguments to donate: a bool for all, or a
            pytree prefix of the arguments with bools or `leaf -> bool` callables.
        donate_kwargs: The same for keyword arguments: a bool or a dict by name.
        **jit_kwargs: Passed to `jax.jit` (e.g. `keep_unused`, `backend`, `inline`).

    Returns:
        The compiled function, with a `.lower(*args, **kwargs)` method.

    Raises:
        ValueError: At call time, if a mapping applies but no mesh is set, or a spec
            is invalid for the mesh.
        TypeError: If a static argument is not hashable.

    Examples:
        >>> mesh = jax.make_mesh((8,), ("data",), axis_types=(jax.sharding.AxisType.Auto,))
        >>> x = named(jnp.ones((8, 3)), ("batch", "embed"))
        >>> @named_jit(axis_resources={"batch": "data"})
        ... def double(x):
        ...     return x * 2
        >>> with jax.set_mesh(mesh):
        ...     y = double(x)
        >>> y.array.sharding.spec
        P('data',)
    """
    if fn is None:
        return functools.partial(
            named_jit,
            axis_resources=axis_resources,
            in_axis_resources=in_axis_resources,
            out_axis_resources=out_axis_resources,
            donate_args=donate_args,
            donate_kwargs=donate_kwargs,
            **jit_kwargs,
        )
    return NamedJitWrapped(
        fn,
        axis_resources,
        in_axis_resources,
        out_axis_resources,
        donate_args,
        donate_kwargs,
        jit_kwargs,
    )


@overload
def fsdp(
    fn: Callable[..., Any], parameter_mapping: ResourceMapping, compute_mapping: ResourceMapping
) -> NamedJitWrapped: ...
@overload
def fsdp(
    parameter_mapping: ResourceMapping, compute_mapping: ResourceMapping
) -> Callable[[Callable[..., Any]], NamedJitWrapped]: ...
def fsdp(*args: Any, **kwargs: Any) -> Any:
    """Fully sharded data parallelism: parameters partitioned one way, compute another.

    `fsdp(fn, parameter_mapping, compute_mapping)` is `named_jit(fn,
    axis_resources=compute_mapping, in_axis_resources=parameter_mapping,
    out_axis_resources=parameter_mapping)`: arguments (the model) arrive sharded by
    `parameter_mapping` (e.g. `{"embed": "data"}`), `fn` runs under `compute_mapping`
    (e.g. `{"batch": "data"}`), so XLA gathers each weight where it is used, and outputs
    (e.g. gradients) are sharded like the parameters again. Also usable as a decorator:
    `@fsdp(parameter_mapping, compute_mapping)`.

    Args:
        fn: The function, typically a loss-and-gradient step over a model.
        parameter_mapping: How parameters (inputs and outputs) are partitioned.
        compute_mapping: The mapping in force inside `fn`.

    Returns:
        The compiled function (see `named_jit`).

    Examples:
        >>> mesh = jax.make_mesh((8,), ("data",), axis_types=(jax.sharding.AxisType.Auto,))
        >>> w = named(jnp.ones((8, 4)), ("embed", "hidden"))
        >>> step = fsdp(lambda w: w * 0.5, {"embed": "data"}, {"batch": "data"})
        >>> with jax.set_mesh(mesh):
        ...     step(w).array.sharding.spec
        P('data',)
    """
    if "fn" in kwargs or (args and callable(args[0]) and not isinstance(args[0], Mapping)):
        return _fsdp(*args, **kwargs)
    return lambda fn: _fsdp(fn, *args, **kwargs)


def _fsdp(
    fn: Callable[..., Any], parameter_mapping: ResourceMapping, compute_mapping: ResourceMapping
) -> NamedJitWrapped:
    for name, value in (
        ("parameter_mapping", parameter_mapping),
        ("compute_mapping", compute_mapping),
    ):
        if not isinstance(value, Mapping):
            raise TypeError(
                f"fsdp: {name} must be a {{logical_axis: mesh_axis}} dict, got {describe(value)}."
            )
    return named_jit(
        fn,
        axis_resources=compute_mapping,
        in_axis_resources=parameter_mapping,
        out_axis_resources=parameter_mapping,
    )


fsdp.__signature__ = inspect.signature(_fsdp)  # type: ignore[attr-defined]  # for help()
