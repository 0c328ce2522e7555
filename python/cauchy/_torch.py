"""cauchy_loss on CPU torch tensors, through a torch.autograd.Function whose forward and
backward call the library on the tensors' own memory and strides."""

import torch
from torch.autograd.function import once_differentiable

from . import _lib

_SUFFIXES = {torch.float32: "f32", torch.float64: "f64"}


def _operand(tensor):
    """The Operand of `tensor` in place (data_ptr() is element [0, ..., 0]), or ABSENT for None."""
    if tensor is None:
        return _lib.ABSENT
    return _lib.operand(tensor.data_ptr(), tensor.shape, tensor.stride())


def _empty_grad(like, needed):
    """A new contiguous gradient for `like` when `needed`, else None."""
    return torch.empty(like.shape, dtype=like.dtype) if needed else None


def suffix(img1, img2):
    """"f32" or "f64" for two dense CPU tensors of one float dtype; TypeError / ValueError
    otherwise."""
    for name, tensor in (("img1", img1), ("img2", img2)):
        if tensor.device.type != "cpu":
            raise ValueError(f"{name} is on {tensor.device}: cauchy computes on CPU tensors only")
        if tensor.layout != torch.strided:
            raise TypeError(f"{name} has layout {tensor.layout}: only strided tensors work")
    if img1.dtype != img2.dtype:
        raise TypeError(f"img1 and img2 must have one dtype, got {img1.dtype} and {img2.dtype}")
    try:
        return _SUFFIXES[img1.dtype]
    except KeyError:
        raise TypeError(f"img1 and img2 must be float32 or float64, got {img1.dtype}") from None


class CauchyLossFunction(torch.autograd.Function):
    """loss = cauchy_loss_*(img1, img2, reduction); backward = cauchy_loss_backward_* with the
    upstream gradient as autograd passes it (any strides), computing only the gradients that
    are needed. Not twice differentiable."""

    @staticmethod
    def forward(ctx, img1, img2, reduction):
        kind = suffix(img1, img2)
        ctx.save_for_backward(img1, img2)
        ctx.kind, ctx.reduction = kind, reduction
        # A negative view (torch._neg_view) keeps its sign in a flag: resolve it (a copy) first.
        img1, img2 = img1.resolve_neg(), img2.resolve_neg()
        shape = img1.shape if reduction == _lib.REDUCTIONS["none"] else ()
        out = torch.empty(shape, dtype=img1.dtype)
        _lib.loss(kind, _operand(img1), _operand(img2), reduction, _operand(out))
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        img1, img2 = (t.resolve_neg() for t in ctx.saved_tensors)
        grad_out = grad_out.resolve_neg()
        grad_img1 = _empty_grad(img1, ctx.needs_input_grad[0])
        grad_img2 = _empty_grad(img2, ctx.needs_input_grad[1])
        _lib.loss_backward(
            ctx.kind, _operand(img1), _operand(img2), ctx.reduction,
            _operand(grad_out), _operand(grad_img1), _operand(grad_img2),
        )
        return grad_img1, grad_img2, None


def cauchy_loss(img1, img2, reduction):
    """The loss of two tensors, `reduction` the library's value, differentiable in both."""
    return CauchyLossFunction.apply(img1, img2, reduction)
