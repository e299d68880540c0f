"""The part of CuPy's namespace the stand-in offers: names and signatures as in CuPy 14.2.

Every name here exists in CuPy (``tests/test_cupy_api.py`` checks that against an installed CuPy); a
name outside these tables raises ``AttributeError``, and a function called with a keyword its CuPy
signature lacks raises ``TypeError``, as CuPy would. The signatures list parameter names in order:
``*name`` variadic, ``**name`` any keyword, ``:name`` keyword-only; ``None`` where CuPy's function
has no inspectable signature. Each is computed by NumPy's function of the same name.
"""

UFUNCS = frozenset('''
    abs absolute add arccos arcsin arctan arctan2 bitwise_and bitwise_or bitwise_xor cbrt ceil conj copysign cos cosh
    degrees divide divmod equal exp exp2 expm1 fabs float_power floor floor_divide fmax fmin fmod greater
    greater_equal hypot invert isfinite isinf isnan left_shift less less_equal log log10 log1p log2 logaddexp
    logical_and logical_not logical_or logical_xor maximum minimum mod multiply negative not_equal positive
    power radians reciprocal remainder right_shift rint sign signbit sin sinh sqrt square subtract tan tanh
    true_divide trunc
'''.split())

TYPES = frozenset('''
    bool bool_ complex128 complex64 dtype finfo float16 float32 float64 floating generic iinfo int16 int32
    int64 int8 int_ integer ufunc uint16 uint32 uint64 uint8
'''.split())

CONSTANTS = frozenset('''
    __version__ e inf nan newaxis pi
'''.split())

FUNCTIONS = {
    'all': 'a axis out keepdims',
    'allclose': 'a b rtol atol equal_nan',
    'amax': 'a axis out keepdims',
    'amin': 'a axis out keepdims',
    'any': 'a axis out keepdims',
    'arange': 'start stop step dtype',
    'argmax': 'a axis dtype out keepdims',
    'argmin': 'a axis dtype out keepdims',
    'argsort': 'a axis kind',
    'argwhere': 'a',
    'around': 'a decimals out',
    'array': 'obj dtype copy order subok ndmin :blocking',
    'array_equal': 'a1 a2 equal_nan',
    'array_split': 'ary indices_or_sections axis',
    'asanyarray': 'a dtype order :copy :blocking',
    'asarray': 'a dtype order :copy :blocking',
    'ascontiguousarray': 'a dtype',
    'atleast_1d': '*arys',
    'atleast_2d': '*arys',
    'average': 'a axis weights returned :keepdims',
    'bincount': 'x weights minlength',
    'broadcast_arrays': '*args',
    'broadcast_shapes': '*args',
    'broadcast_to': 'array shape',
    'can_cast': 'from_ to casting',
    'clip': 'a a_min a_max out',
    'concatenate': 'tup axis out :dtype :casting',
    'copyto': 'dst src casting where',
    'count_nonzero': 'a axis',
    'cov': 'a y rowvar bias ddof fweights aweights :dtype',
    'cumprod': 'a axis dtype out',
    'cumsum': 'a axis dtype out',
    'delete': 'arr indices axis',
    'diag': 'v k',
    'diagonal': 'a offset axis1 axis2',
    'diff': 'a n axis prepend append',
    'dot': 'a b out',
    'einsum': '*operands **kwargs',
    'empty': 'shape dtype order',
    'empty_like': 'prototype dtype order subok shape',
    'expand_dims': 'a axis',
    'eye': 'N M k dtype order',
    'flatnonzero': 'a',
    'flip': 'a axis',
    'full': 'shape fill_value dtype order',
    'full_like': 'a fill_value dtype order subok shape',
    'hstack': 'tup :dtype :casting',
    'identity': 'n dtype',
    'imag': 'val',
    'isclose': 'a b rtol atol equal_nan',
    'isscalar': 'element',
    'issubdtype': 'arg1 arg2',
    'ix_': '*args',
    'kron': 'a b',
    'linspace': 'start stop num endpoint retstep dtype axis',
    'matmul': '*args :axes :axis :keepdims :casting :dtype :signature :order :out',
    'max': 'a axis out keepdims',
    'mean': 'a axis dtype out keepdims',
    'median': 'a axis out overwrite_input keepdims',
    'meshgrid': '*xi **kwargs',
    'min': 'a axis out keepdims',
    'min_scalar_type': None,
    'moveaxis': 'a source destination',
    'nan_to_num': 'x copy nan posinf neginf',
    'nanmax': 'a axis out keepdims',
    'nanmean': 'a axis dtype out keepdims',
    'nanmin': 'a axis out keepdims',
    'nansum': 'a axis dtype out keepdims',
    'ndim': 'a',
    'nonzero': 'a',
    'ones': 'shape dtype order',
    'ones_like': 'a dtype order subok shape',
    'outer': 'a b out',
    'pad': 'array pad_width mode **kwargs',
    'prod': 'a axis dtype out keepdims',
    'promote_types': 'type1 type2',
    'ptp': 'a axis out keepdims',
    'put_along_axis': 'arr indices values axis',
    'ravel': 'a order',
    'real': 'val',
    'repeat': 'a repeats axis',
    'reshape': 'a newshape order :copy',
    'result_type': '*arrays_and_dtypes',
    'roll': 'a shift axis',
    'rot90': 'a k axes',
    'round': 'a decimals out',
    'searchsorted': 'a v side sorter',
    'select': 'condlist choicelist default',
    'shares_memory': 'a b max_work',
    'size': None,
    'sort': 'a axis kind',
    'split': 'ary indices_or_sections axis',
    'squeeze': 'a axis',
    'stack': 'tup axis out :dtype :casting',
    'std': 'a axis dtype out ddof keepdims',
    'sum': 'a axis dtype out keepdims',
    'swapaxes': 'a axis1 axis2',
    'take': 'a indices axis out',
    'take_along_axis': 'a indices axis',
    'tensordot': 'a b axes',
    'tile': 'A reps',
    'trace': 'a offset axis1 axis2 dtype out',
    'transpose': 'a axes',
    'tril': 'm k',
    'triu': 'm k',
    'unique': 'ar return_index return_inverse return_counts axis :equal_nan',
    'unravel_index': 'indices dims order',
    'var': 'a axis dtype out ddof keepdims',
    'vstack': 'tup :dtype :casting',
    'where': 'condition x y',
    'zeros': 'shape dtype order',
    'zeros_like': 'a dtype order subok shape',
}
