"""namedax: named-axis arrays for JAX.

Every array carries `Axis(name, size)` metadata; operations address axes by name,
align operands by name, and transformations (`vmap`, `scan`, ...) map over named
axes. This module only re-exports; each concept lives in its own private module.

Examples:
    >>> import jax.numpy as jnp
    >>> import namedax as nx
    >>> Batch, Embed = nx.Axis("batch", 2), nx.Axis("embed", 3)
    >>> x = nx.named(jnp.arange(6.0).reshape(2, 3), (Batch, Embed))
    >>> bias = nx.named(jnp.array([1.0, 2.0, 3.0]), Embed)
    >>> (x + bias).shape
    {'batch': 2, 'embed': 3}
"""

from namedax.compat._haliax import install_as_haliax as install_as_haliax
from namedax.core._array import (
    NamedArray as NamedArray,
    is_named_array as is_named_array,
    named as named,
)
from namedax.core._axes import (
    Axis as Axis,
    AxisSelection as AxisSelection,
    AxisSelector as AxisSelector,
    AxisSpec as AxisSpec,
    axis_name as axis_name,
    axis_size as axis_size,
    axis_spec_to_shape_dict as axis_spec_to_shape_dict,
    axis_spec_to_tuple as axis_spec_to_tuple,
    concat_axes as concat_axes,
    eliminate_axes as eliminate_axes,
    intersect_axes as intersect_axes,
    make_axes as make_axes,
    replace_axis as replace_axis,
    resolve_axis as resolve_axis,
    selects_axis as selects_axis,
    to_jax_shape as to_jax_shape,
    union_axes as union_axes,
    without_axes as without_axes,
)
from namedax.core._broadcast import (
    broadcast_arrays as broadcast_arrays,
    broadcast_axis as broadcast_axis,
    broadcast_to as broadcast_to,
)
from namedax.core._field import field as field
from namedax.core._typing import Named as Named, matches_axes as matches_axes
from namedax.ops import _methods as _methods  # binds operators and methods onto NamedArray
from namedax.ops._bits import packbits as packbits, unpackbits as unpackbits
from namedax.ops._comparison import (
    allclose as allclose,
    array_equal as array_equal,
    array_equiv as array_equiv,
    isclose as isclose,
)
from namedax.ops._creation import (
    arange as arange,
    concatenate as concatenate,
    full as full,
    full_like as full_like,
    geomspace as geomspace,
    linspace as linspace,
    logspace as logspace,
    ones as ones,
    ones_like as ones_like,
    repeat as repeat,
    stack as stack,
    tile as tile,
    zeros as zeros,
    zeros_like as zeros_like,
)
from namedax.ops._dot import dot as dot
from namedax.ops._einsum import einsum as einsum
from namedax.ops._elementwise import (
    abs as abs,
    absolute as absolute,
    add as add,
    angle as angle,
    arccos as arccos,
    arccosh as arccosh,
    arcsin as arcsin,
    arcsinh as arcsinh,
    arctan as arctan,
    arctan2 as arctan2,
    arctanh as arctanh,
    around as around,
    bitwise_and as bitwise_and,
    bitwise_count as bitwise_count,
    bitwise_invert as bitwise_invert,
    bitwise_left_shift as bitwise_left_shift,
    bitwise_not as bitwise_not,
    bitwise_or as bitwise_or,
    bitwise_right_shift as bitwise_right_shift,
    bitwise_xor as bitwise_xor,
    cbrt as cbrt,
    ceil as ceil,
    conj as conj,
    conjugate as conjugate,
    copy as copy,
    copysign as copysign,
    cos as cos,
    cosh as cosh,
    deg2rad as deg2rad,
    degrees as degrees,
    divide as divide,
    divmod as divmod,
    equal as equal,
    exp as exp,
    exp2 as exp2,
    expm1 as expm1,
    fabs as fabs,
    float_power as float_power,
    floor as floor,
    floor_divide as floor_divide,
    fmax as fmax,
    fmin as fmin,
    fmod as fmod,
    frexp as frexp,
    gcd as gcd,
    greater as greater,
    greater_equal as greater_equal,
    heaviside as heaviside,
    hypot as hypot,
    i0 as i0,
    imag as imag,
    invert as invert,
    iscomplex as iscomplex,
    isfinite as isfinite,
    isinf as isinf,
    isnan as isnan,
    isneginf as isneginf,
    isposinf as isposinf,
    isreal as isreal,
    lcm as lcm,
    ldexp as ldexp,
    left_shift as left_shift,
    less as less,
    less_equal as less_equal,
    log as log,
    log1p as log1p,
    log2 as log2,
    log10 as log10,
    logaddexp as logaddexp,
    logaddexp2 as logaddexp2,
    logical_and as logical_and,
    logical_not as logical_not,
    logical_or as logical_or,
    logical_xor as logical_xor,
    maximum as maximum,
    minimum as minimum,
    mod as mod,
    modf as modf,
    multiply as multiply,
    nan_to_num as nan_to_num,
    negative as negative,
    nextafter as nextafter,
    not_equal as not_equal,
    positive as positive,
    power as power,
    rad2deg as rad2deg,
    radians as radians,
    real as real,
    reciprocal as reciprocal,
    remainder as remainder,
    right_shift as right_shift,
    rint as rint,
    round as round,
    rsqrt as rsqrt,
    sign as sign,
    signbit as signbit,
    sin as sin,
    sinc as sinc,
    sinh as sinh,
    sqrt as sqrt,
    square as square,
    subtract as subtract,
    tan as tan,
    tanh as tanh,
    true_divide as true_divide,
    trunc as trunc,
)
from namedax.ops._fft import (
    fft as fft,
    fftfreq as fftfreq,
    fftshift as fftshift,
    hfft as hfft,
    ifft as ifft,
    ifftshift as ifftshift,
    ihfft as ihfft,
    irfft as irfft,
    rfft as rfft,
    rfftfreq as rfftfreq,
)
from namedax.ops._indexing import (
    dblock as dblock,
    ds as ds,
    dslice as dslice,
    index as index,
    slice as slice,
    take as take,
    updated_slice as updated_slice,
)
from namedax.ops._poly import (
    DEFAULT_POLY_AXIS_NAME as DEFAULT_POLY_AXIS_NAME,
    poly as poly,
    polyadd as polyadd,
    polyder as polyder,
    polydiv as polydiv,
    polyfit as polyfit,
    polyint as polyint,
    polymul as polymul,
    polysub as polysub,
    polyval as polyval,
    roots as roots,
    trim_zeros as trim_zeros,
    vander as vander,
)
from namedax.ops._rearrange import rearrange as rearrange
from namedax.ops._reductions import (
    all as all,
    amax as amax,
    amin as amin,
    any as any,
    argmax as argmax,
    argmin as argmin,
    argsort as argsort,
    cumprod as cumprod,
    cumsum as cumsum,
    max as max,
    mean as mean,
    min as min,
    nanargmax as nanargmax,
    nanargmin as nanargmin,
    nancumprod as nancumprod,
    nancumsum as nancumsum,
    nanmax as nanmax,
    nanmean as nanmean,
    nanmin as nanmin,
    nanprod as nanprod,
    nanstd as nanstd,
    nansum as nansum,
    nanvar as nanvar,
    prod as prod,
    product as product,
    ptp as ptp,
    sort as sort,
    std as std,
    sum as sum,
    var as var,
)
from namedax.ops._ref import NamedRef as NamedRef, new_ref as new_ref
from namedax.ops._sets import (
    bincount as bincount,
    searchsorted as searchsorted,
    top_k as top_k,
    unique as unique,
    unique_all as unique_all,
    unique_counts as unique_counts,
    unique_inverse as unique_inverse,
    unique_values as unique_values,
)
from namedax.ops._shape import (
    flatten as flatten,
    flatten_axes as flatten_axes,
    ndim as ndim,
    ravel as ravel,
    rename as rename,
    split as split,
    unbind as unbind,
    unflatten_axis as unflatten_axis,
)
from namedax.ops._structural import (
    pad as pad,
    pad_left as pad_left,
    roll as roll,
    trace as trace,
    tril as tril,
    triu as triu,
)
from namedax.ops._where import clip as clip, nonzero as nonzero, where as where
from namedax.transforms._grad import grad as grad, value_and_grad as value_and_grad
from namedax.transforms._nmap import nmap as nmap
from namedax.transforms._remat import ScanCheckpointPolicy as ScanCheckpointPolicy
from namedax.transforms._scan import fold as fold, map as map, scan as scan
from namedax.transforms._vmap import vmap as vmap

from . import (
    nn as nn,
    partitioning as partitioning,
    random as random,
    serialization as serialization,
    tree_util as tree_util,
    typing as typing,
)
from .io._interop import (
    from_haliax as from_haliax,
    from_penzai as from_penzai,
    from_xarray as from_xarray,
    to_haliax as to_haliax,
    to_penzai as to_penzai,
    tree_from_haliax as tree_from_haliax,
)
from .partitioning import (
    auto_sharded as auto_sharded,
    axis_mapping as axis_mapping,
    fsdp as fsdp,
    named_jit as named_jit,
    reshard as reshard,
    shard as shard,
    shard_map as shard_map,
)
from .serialization import from_state_dict as from_state_dict, to_state_dict as to_state_dict
