"""The PyTorch custom op of c_examples/torch_op (torch.ops.cauchy.loss) against kornia.losses,
forward and backward, float32 and float64, contiguous and strided tensors; gradcheck in
float64; the backward op on its own; the library's errors as Python exceptions."""

import itertools

import pytest
from support import TORCH_LAYOUTS, require, torch_layout, torch_tensor

torch = require("torch")
kornia = require("kornia")

DTYPES = [torch.float32, torch.float64]
REDUCTIONS = {"none": 0, "mean": 1, "sum": 2}
SHAPE = (2, 3, 4, 5)
KORNIA_TOL = {
    torch.float32: dict(rtol=2e-6, atol=1e-6),
    torch.float64: dict(rtol=1e-12, atol=1e-14),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout1,layout2", list(itertools.product(TORCH_LAYOUTS, TORCH_LAYOUTS)))
def test_against_kornia(torch_op, layout1, layout2, dtype):
    generator = torch.Generator().manual_seed(0)
    img1 = torch_tensor(layout1, SHAPE, dtype, generator).detach().requires_grad_()
    img2 = torch_tensor(layout2, SHAPE, dtype, generator).detach().requires_grad_()
    for name, value in REDUCTIONS.items():
        loss = torch_op.loss(img1, img2, value)
        want = kornia.losses.cauchy_loss(img1, img2, name)
        torch.testing.assert_close(loss, want, **KORNIA_TOL[dtype])
        upstream = torch.randn(loss.shape, dtype=dtype, generator=generator)
        got = torch.autograd.grad(loss, (img1, img2), upstream)
        expected = torch.autograd.grad(want, (img1, img2), upstream)
        for g, w in zip(got, expected):
            torch.testing.assert_close(g, w, **KORNIA_TOL[dtype])


@pytest.mark.parametrize("reduction", REDUCTIONS.values())
@pytest.mark.parametrize("layout", TORCH_LAYOUTS)
def test_gradcheck_float64(torch_op, layout, reduction):
    generator = torch.Generator().manual_seed(1)
    shape, view = torch_layout(layout, (2, 3, 4))
    base = torch.randn(shape, dtype=torch.float64, generator=generator, requires_grad=True)
    img2 = torch.randn(2, 3, 4, dtype=torch.float64, generator=generator, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: torch_op.loss(view(a), b, reduction), (base, img2))
    fixed = img2.detach()
    assert torch.autograd.gradcheck(lambda a: torch_op.loss(fixed, view(a), reduction), (base,))


def test_default_reduction_and_backward_op(torch_op):
    generator = torch.Generator().manual_seed(2)
    img1, img2 = (torch.randn(3, 4, dtype=torch.float64, generator=generator) for _ in range(2))
    torch.testing.assert_close(torch_op.loss(img1, img2), kornia.losses.cauchy_loss(img1, img2))
    upstream = torch.tensor(1.0, dtype=torch.float64)
    grad1, grad2 = torch_op.loss_backward(upstream, img1, img2, 2, [True, False])
    d = img1 - img2
    torch.testing.assert_close(grad1, 2 * d / (d * d + 2), rtol=1e-15, atol=0)
    assert grad2 is None


def test_errors(torch_op):
    ok = torch.zeros(2, 3)
    mismatch = "CAUCHY_STATUS_SHAPE_MISMATCH: img2 shape \\[3, 2\\] does not match"
    with pytest.raises(ValueError, match=mismatch):
        torch_op.loss(ok, torch.zeros(3, 2), 0)
    with pytest.raises(TypeError, match="img2 is Double, expected Float"):
        torch_op.loss(ok, ok.double(), 1)
    with pytest.raises(TypeError, match="float32 or float64"):
        torch_op.loss(ok.long(), ok.long(), 1)
    with pytest.raises(ValueError, match="reduction must be"):
        torch_op.loss(ok, ok, 3)
