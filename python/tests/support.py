"""Helpers shared by the tests: optional modules, the NumPy reference, layouts, a call spy."""

import importlib
import math
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
"""The repository root."""

# Element-wise tolerance against the float64 reference: the library is within 1 ULP (float32) /
# 2 ULP (float64) of the correctly rounded value; the reference's own rounding (to float32, or
# NumPy's float64 log1p of a rounded d*d/2) may add one or two more.
MAX_ULP = {"float32": 2, "float64": 4}


def require(name):
    """Import module `name`. Where it is missing the calling test module is skipped, except
    under CI (CI set in the environment), which installs it: there the import error fails."""
    if os.environ.get("CI"):
        return importlib.import_module(name)
    return pytest.importorskip(name)


np = require("numpy")


def reference_loss(img1, img2):
    """log1p(d^2 / 2) in float64, d the float64 difference (exact for float32 inputs)."""
    d = np.asarray(img1, np.float64) - np.asarray(img2, np.float64)
    return np.log1p(d * d / 2)


def reference_grad(img1, img2):
    """d loss / d img1 = 2d / (d^2 + 2) in float64."""
    d = np.asarray(img1, np.float64) - np.asarray(img2, np.float64)
    return 2 * d / (d * d + 2)


def reference_reduce(values, reduction):
    """The float64 'mean' or 'sum' of float64 values, the sum exactly rounded (math.fsum)."""
    total = math.fsum(values.ravel())
    return total / values.size if reduction == "mean" else total


def assert_ulp(actual, expected, dtype):
    """`actual` (of `dtype`) is within MAX_ULP of the float64 `expected` rounded to `dtype`."""
    actual = np.asarray(actual)
    assert actual.dtype == np.dtype(dtype)
    assert actual.shape == np.shape(expected)
    np.testing.assert_array_max_ulp(actual, np.asarray(expected, dtype), MAX_ULP[str(dtype)])


def assert_sum(actual, expected, dtype):
    """A MEAN / SUM result: within MAX_ULP (float32) or a relative 1e-14 (float64) of the
    float64 `expected`."""
    if np.dtype(dtype) == np.float32:
        assert_ulp(actual, expected, dtype)
    else:
        np.testing.assert_allclose(float(actual), expected, rtol=1e-14, atol=0)


LAYOUTS = ["contiguous", "fortran", "permuted", "flipped", "sliced", "expanded"]
"""The NumPy layouts `numpy_array` makes."""


def numpy_array(layout, shape, dtype, rng, scale=3.0):
    """A random array of `shape` and `dtype` in `layout` (a view where the layout needs one)."""
    ndim = len(shape)

    def normal(shape):
        return np.asarray(rng.standard_normal(shape) * scale, dtype)

    if layout == "contiguous":
        return normal(shape)
    if layout == "fortran":
        return np.asfortranarray(normal(shape))
    if layout == "permuted":  # axes stored in the order (1, 2, ..., 0)
        order = list(range(1, ndim)) + [0]
        return normal([shape[k] for k in order]).transpose(np.argsort(order))
    if layout == "flipped":  # every stride negative
        return normal(shape)[(slice(None, None, -1),) * ndim]
    if layout == "sliced":  # every other element, from the second, of a larger array
        return normal([2 * s + 1 for s in shape])[(slice(1, None, 2),) * ndim]
    if layout == "expanded":  # stride 0 in every dimension but the first
        return np.broadcast_to(normal(shape[:1] + (1,) * (ndim - 1)), shape)
    raise ValueError(layout)


class Spy:
    """Stands in for the ctypes library object (cauchy._lib.LIB) and records each call as
    (function name, arguments)."""

    def __init__(self, lib):
        self.lib = lib
        self.calls = []

    def __getattr__(self, name):
        function = getattr(self.lib, name)

        def record(*args):
            self.calls.append((name, args))
            return function(*args)

        return record


def passed(arg_ptr, arg_desc):
    """What a recorded call was given for one operand: (address, shape, strides), or None for an
    absent operand."""
    if arg_desc is None:
        assert arg_ptr is None
        return None
    desc = arg_desc._obj  # the TensorDesc behind ctypes.byref()
    return (
        arg_ptr,
        tuple(desc.shape[k] for k in range(desc.ndim)),
        tuple(desc.strides[k] for k in range(desc.ndim)),
    )


TORCH_LAYOUTS = ["contiguous", "permuted", "sliced", "expanded", "window", "negview"]
"""The PyTorch layouts `torch_layout` makes (PyTorch has no negative strides)."""


def torch_layout(layout, shape):
    """(base shape, view): view(base) is a tensor of `shape` in `layout`, a view of base."""
    ndim = len(shape)
    if layout == "contiguous":
        return shape, lambda base: base
    if layout == "permuted":  # axes stored in the order (1, 2, ..., 0)
        order = list(range(1, ndim)) + [0]
        inverse = [order.index(k) for k in range(ndim)]
        return tuple(shape[k] for k in order), lambda base: base.permute(*inverse)
    if layout == "sliced":  # every other element, from the second, of a larger tensor
        return tuple(2 * s + 1 for s in shape), lambda base: base[(slice(1, None, 2),) * ndim]
    if layout == "expanded":  # stride 0 in every dimension but the first
        return shape[:1] + (1,) * (ndim - 1), lambda base: base.expand(shape)
    if layout == "window":  # every stride 1: elements overlap
        return (sum(s - 1 for s in shape) + 1,), lambda base: base.as_strided(shape, (1,) * ndim)
    if layout == "negview":  # the sign kept in PyTorch's negative-view flag
        return shape, lambda base: base._neg_view()
    raise ValueError(layout)


def torch_tensor(layout, shape, dtype, generator, scale=3.0):
    """A random tensor of `shape` and `dtype` in `layout`, a view of a new base."""
    import torch

    base_shape, view = torch_layout(layout, shape)
    return view(torch.randn(base_shape, dtype=dtype, generator=generator) * scale)
