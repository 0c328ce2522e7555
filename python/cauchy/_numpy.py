"""cauchy_loss on NumPy arrays: the arrays' own memory and strides go to the library."""

import numpy as np

from . import _lib

_SUFFIXES = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}


def _operand(name, array):
    """The Operand of `array` in place: its data pointer and its strides in elements."""
    strides = []
    for stride in array.strides:
        if stride % array.itemsize:
            raise ValueError(
                f"{name} has a stride of {stride} bytes, not a multiple of its item size "
                f"{array.itemsize}: make a copy with numpy.ascontiguousarray({name})"
            )
        strides.append(stride // array.itemsize)
    return _lib.operand(array.ctypes.data, array.shape, strides)


def suffix(img1, img2):
    """"f32" or "f64" for two arrays of one native float dtype; TypeError otherwise."""
    if img1.dtype != img2.dtype:
        raise TypeError(f"img1 and img2 must have one dtype, got {img1.dtype} and {img2.dtype}")
    try:
        return _SUFFIXES[img1.dtype]
    except KeyError:
        raise TypeError(
            f"img1 and img2 must be float32 or float64 in native byte order, got {img1.dtype}"
        ) from None


def cauchy_loss(img1, img2, reduction):
    """The loss of two arrays, `reduction` the library's value: a new array of img1's shape
    (NONE) or a 0-d array (MEAN, SUM)."""
    kind = suffix(img1, img2)
    out = np.empty(img1.shape if reduction == _lib.REDUCTIONS["none"] else (), img1.dtype)
    _lib.loss(kind, _operand("img1", img1), _operand("img2", img2), reduction, _operand("out", out))
    return out
