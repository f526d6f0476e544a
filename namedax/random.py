"""Random sampling with named shapes.

Every sampler takes `(key, shape, ...)` with `shape` an `AxisSpec`, and returns
values bit-identical to the `jax.random` function of the same name called on the
positional shape. Distribution parameters may be NamedArrays, aligned to `shape`
by name.

Examples:
    >>> Batch, Embed = Axis("batch", 2), Axis("embed", 3)
    >>> key = jax.random.key(0)
    >>> x = nx.random.normal(key, (Batch, Embed))
    >>> bool((x.array == jax.random.normal(key, (2, 3))).all())
    True
    >>> scale = named(jnp.array([1.0, 10.0, 100.0]), Embed)
    >>> nx.random.uniform(key, (Batch, Embed), maxval=scale).shape
    {'batch': 2, 'embed': 3}
"""

from namedax.ops._random import (
    ball as ball,
    bernoulli as bernoulli,
    beta as beta,
    binomial as binomial,
    bits as bits,
    categorical as categorical,
    cauchy as cauchy,
    chisquare as chisquare,
    choice as choice,
    dirichlet as dirichlet,
    exponential as exponential,
    f as f,
    gamma as gamma,
    generalized_normal as generalized_normal,
    geometric as geometric,
    gumbel as gumbel,
    laplace as laplace,
    loggamma as loggamma,
    logistic as logistic,
    lognormal as lognormal,
    maxwell as maxwell,
    normal as normal,
    pareto as pareto,
    permutation as permutation,
    poisson as poisson,
    rademacher as rademacher,
    randint as randint,
    rayleigh as rayleigh,
    t as t,
    triangular as triangular,
    truncated_normal as truncated_normal,
    uniform as uniform,
    wald as wald,
    weibull_min as weibull_min,
)
