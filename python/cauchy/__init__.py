"""Kornia's Cauchy (Lorentzian) loss, computed by libcauchy.

    cauchy_loss(img1, img2, reduction="none")   as kornia.losses.cauchy_loss
    CauchyLoss(reduction="none")                as kornia.losses.CauchyLoss

img1 and img2 are both NumPy arrays or both CPU PyTorch tensors, of one shape and one dtype,
float32 or float64, with any strides (transposed, sliced, flipped, expanded): the library reads
them where they are, without a copy. The result is new and contiguous: a tensor of the inputs'
shape for "none", one element (a 0-d array / 0-dim tensor) for "mean" and "sum". Torch tensors
are differentiable in both inputs (the backward pass also runs in the library).

Errors: a failed library call raises CauchyError (a ValueError) with the library's status and
message; inputs of other types or dtypes raise TypeError.
"""

from ._lib import LIBRARY_PATH, CauchyError, reduction_value

try:
    import numpy
except ImportError:
    numpy = None
else:
    from . import _numpy

try:
    import torch
except ImportError:
    torch = None
else:
    from . import _torch

__version__ = "0.1.0"
__all__ = ["cauchy_loss", "CauchyLoss", "CauchyError", "LIBRARY_PATH"]


def cauchy_loss(img1, img2, reduction="none"):
    """The Cauchy loss log(0.5 * (img1 - img2)^2 + 1), element-wise ("none"), or its "mean" or
    "sum"; see the module docstring for the inputs."""
    value = reduction_value(reduction)
    if torch is not None and isinstance(img1, torch.Tensor) and isinstance(img2, torch.Tensor):
        return _torch.cauchy_loss(img1, img2, value)
    if numpy is not None and isinstance(img1, numpy.ndarray) and isinstance(img2, numpy.ndarray):
        return _numpy.cauchy_loss(img1, img2, value)
    raise TypeError(
        "img1 and img2 must be both NumPy arrays or both torch tensors, got "
        f"{type(img1).__name__} and {type(img2).__name__}"
    )


class CauchyLoss(torch.nn.Module if torch is not None else object):
    """The criterion cauchy_loss(img1, img2, reduction): a torch.nn.Module where PyTorch is
    installed, else a plain callable."""

    def __init__(self, reduction="none"):
        super().__init__()
        self.reduction = reduction

    def forward(self, img1, img2):
        return cauchy_loss(img1, img2, self.reduction)

    if torch is None:
        __call__ = forward
