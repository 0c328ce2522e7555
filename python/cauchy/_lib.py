"""ctypes bindings to libcauchy: finding and loading the library, descriptors, calls, errors.

The library is looked for, in order:

1. the path in the environment variable CAUCHY_LIBRARY (when set, nothing else is tried);
2. target/release/libcauchy.so of the checkout this package sits in (python/cauchy/ of the
   repository, when it is imported from the source tree);
3. target/release/libcauchy.so of the checkout `pip install ./python` was run from (recorded
   in cauchy/_checkout.py by the build backend, python/cauchy_build.py);
4. ctypes.util.find_library("cauchy") (the system's library path).
"""

import ctypes
import ctypes.util
import os
from collections import namedtuple
from pathlib import Path

# The library ABI this package speaks: 0.x from 0.1 on (CauchyTensorDesc and the functions are
# frozen for 0.x).
_MIN_VERSION = 100
_NEXT_MAJOR = 10000

REDUCTIONS = {"none": 0, None: 0, "mean": 1, "sum": 2}
"""Kornia's reduction names to the library's values (ATen's at::Reduction)."""


class CauchyError(ValueError):
    """A libcauchy call failed.

    `status` is the CauchyStatus value, `status_name` its name (e.g.
    "CAUCHY_STATUS_SHAPE_MISMATCH") and `message` the library's explanation, which names the
    argument and the values involved; str() of the error is "status_name: message".
    """

    def __init__(self, status, status_name, message):
        super().__init__(f"{status_name}: {message}")
        self.status = status
        self.status_name = status_name
        self.message = message


class TensorDesc(ctypes.Structure):
    """CauchyTensorDesc: ndim, then ndim sizes and ndim strides counted in elements."""

    _fields_ = [
        ("ndim", ctypes.c_size_t),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
    ]


Operand = namedtuple("Operand", "ptr desc")
"""A tensor operand of a call: the address of element [0, ..., 0] and its TensorDesc."""

ABSENT = Operand(None, None)
"""An optional operand that is not wanted (NULL pointer and descriptor)."""


def operand(ptr, shape, strides):
    """The Operand of the tensor whose element [0, ..., 0] is at address `ptr` (an int)."""
    ndim = len(shape)
    array = ctypes.c_int64 * ndim
    # The structure keeps references to the two arrays, so they live as long as it does.
    return Operand(ptr, TensorDesc(ndim, array(*shape), array(*strides)))


def _checkout_libraries():
    """target/release/libcauchy.so of the source tree around this file, then of the checkout
    recorded at install time."""
    paths = [Path(__file__).resolve().parents[2] / "target" / "release" / "libcauchy.so"]
    try:
        from ._checkout import CHECKOUT
    except ImportError:
        pass
    else:
        paths.append(Path(CHECKOUT) / "target" / "release" / "libcauchy.so")
    return paths


def _load():
    """Load the library from the first place (module docstring) that has it."""
    explicit = os.environ.get("CAUCHY_LIBRARY")
    if explicit:
        return ctypes.CDLL(explicit)
    for path in _checkout_libraries():
        if path.is_file():
            return ctypes.CDLL(str(path))
    name = ctypes.util.find_library("cauchy")
    if name:
        return ctypes.CDLL(name)
    tried = ", ".join(str(p) for p in _checkout_libraries())
    raise ImportError(
        f"libcauchy not found (tried {tried} and the system library path): run "
        "`cargo build --release` in the checkout, or set CAUCHY_LIBRARY to the library's path"
    )


def _declare(lib):
    """Set the argument and result types of the functions this package calls."""
    ptr, desc, i32 = ctypes.c_void_p, ctypes.POINTER(TensorDesc), ctypes.c_int32
    for suffix in ("f32", "f64"):
        forward = getattr(lib, f"cauchy_loss_{suffix}")
        forward.argtypes = [ptr, desc, ptr, desc, i32, ptr, desc]
        forward.restype = i32
        backward = getattr(lib, f"cauchy_loss_backward_{suffix}")
        backward.argtypes = [ptr, desc, ptr, desc, i32, ptr, desc, ptr, desc, ptr, desc]
        backward.restype = i32
    lib.cauchy_status_name.argtypes = [i32]
    lib.cauchy_status_name.restype = ctypes.c_char_p
    lib.cauchy_last_error_message.argtypes = []
    lib.cauchy_last_error_message.restype = ctypes.c_char_p
    lib.cauchy_version.argtypes = []
    lib.cauchy_version.restype = ctypes.c_uint32


LIB = _load()
_declare(LIB)
LIBRARY_PATH = LIB._name
if not _MIN_VERSION <= LIB.cauchy_version() < _NEXT_MAJOR:
    raise ImportError(
        f"{LIBRARY_PATH} is libcauchy {LIB.cauchy_version()}; this package needs 0.x from 0.1 on"
    )


def reduction_value(reduction):
    """The library's value of a Kornia reduction name ('none', 'mean', 'sum' or None)."""
    try:
        return REDUCTIONS[reduction]
    except (KeyError, TypeError):
        raise ValueError(
            f"Given type of reduction is not supported. Got: {reduction!r} "
            "(expected 'none', 'mean', 'sum' or None)"
        ) from None


def _check(status):
    """Raise CauchyError with the library's message for a failure status."""
    if status != 0:
        name = LIB.cauchy_status_name(status).decode()
        raise CauchyError(status, name, LIB.cauchy_last_error_message().decode())


def _ref(desc):
    return None if desc is None else ctypes.byref(desc)


def loss(suffix, img1, img2, reduction, out):
    """cauchy_loss_<suffix> ("f32" or "f64") on Operands; raises CauchyError on failure."""
    _check(
        getattr(LIB, f"cauchy_loss_{suffix}")(
            img1.ptr, _ref(img1.desc), img2.ptr, _ref(img2.desc), reduction, out.ptr, _ref(out.desc)
        )
    )


def loss_backward(suffix, img1, img2, reduction, grad_out, grad_img1, grad_img2):
    """cauchy_loss_backward_<suffix> on Operands (a gradient may be ABSENT to skip it)."""
    _check(
        getattr(LIB, f"cauchy_loss_backward_{suffix}")(
            img1.ptr, _ref(img1.desc), img2.ptr, _ref(img2.desc), reduction,
            grad_out.ptr, _ref(grad_out.desc),
            grad_img1.ptr, _ref(grad_img1.desc), grad_img2.ptr, _ref(grad_img2.desc),
        )
    )
