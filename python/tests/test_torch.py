"""cauchy_loss / CauchyLoss on CPU torch tensors: the forward and autograd backward against the
NumPy reference and kornia.losses, torch.autograd.gradcheck in float64, every layout pair,
upstream gradients of any layout, only the needed gradients, no copies, and the errors."""

import itertools

import pytest
from support import (
    TORCH_LAYOUTS, Spy, assert_sum, assert_ulp, np, passed, reference_grad, reference_loss,
    reference_reduce, require, torch_layout, torch_tensor,
)

torch = require("torch")
kornia = require("kornia")

import cauchy  # noqa: E402  (after the skips)

DTYPES = [torch.float32, torch.float64]
REDUCTIONS = ["none", "mean", "sum"]
SHAPE = (2, 3, 4, 5)
GRADCHECK_SHAPE = (2, 3, 4)  # gradcheck differentiates numerically, element by element
LAYOUT_PAIRS = list(itertools.product(TORCH_LAYOUTS, TORCH_LAYOUTS))
# Kornia evaluates log1p(0.5 * square(img1 - img2)) and its autograd in the tensors' dtype,
# a few roundings, each of relative size 2^-24 (float32) or 2^-53 (float64).
KORNIA_TOL = {
    torch.float32: dict(rtol=2e-6, atol=1e-6),
    torch.float64: dict(rtol=1e-12, atol=1e-14),
}


def values(tensor):
    """A tensor's values as a NumPy array (any layout, the negative-view flag resolved)."""
    return tensor.detach().resolve_neg().numpy()


def leaf(tensor):
    """A leaf tensor that requires grad, with the memory and strides of `tensor`."""
    return tensor.detach().resolve_neg().requires_grad_()


def dtype_name(dtype):
    return str(dtype).removeprefix("torch.")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout1,layout2", LAYOUT_PAIRS)
def test_forward_against_reference_and_kornia(layout1, layout2, dtype):
    generator = torch.Generator().manual_seed(0)
    img1 = torch_tensor(layout1, SHAPE, dtype, generator)
    img2 = torch_tensor(layout2, SHAPE, dtype, generator)
    expected = reference_loss(values(img1), values(img2))
    for reduction in REDUCTIONS:
        loss = cauchy.cauchy_loss(img1, img2, reduction)
        assert loss.dtype == dtype and not loss.requires_grad
        if reduction == "none":
            assert loss.is_contiguous()
            assert_ulp(loss.numpy(), expected, dtype_name(dtype))
        else:
            assert loss.shape == ()
            assert_sum(loss.numpy(), reference_reduce(expected, reduction), dtype_name(dtype))
        want = kornia.losses.cauchy_loss(img1.resolve_neg(), img2.resolve_neg(), reduction)
        torch.testing.assert_close(loss, want, **KORNIA_TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout1,layout2", LAYOUT_PAIRS)
def test_backward_against_reference_and_kornia(layout1, layout2, dtype):
    generator = torch.Generator().manual_seed(1)
    img1 = leaf(torch_tensor(layout1, SHAPE, dtype, generator))
    img2 = leaf(torch_tensor(layout2, SHAPE, dtype, generator))
    grad = reference_grad(values(img1), values(img2))
    for reduction in REDUCTIONS:
        shape = SHAPE if reduction == "none" else ()
        upstream = torch.randn(shape, dtype=dtype, generator=generator)
        factor = values(upstream) / (grad.size if reduction == "mean" else 1)
        got = torch.autograd.grad(cauchy.cauchy_loss(img1, img2, reduction), (img1, img2), upstream)
        kornia_loss = kornia.losses.cauchy_loss(img1, img2, reduction)
        want = torch.autograd.grad(kornia_loss, (img1, img2), upstream)
        assert_ulp(got[0].numpy(), factor * grad, dtype_name(dtype))
        assert torch.equal(got[1], -got[0])
        for g, w in zip(got, want):
            torch.testing.assert_close(g, w, **KORNIA_TOL[dtype])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("layout1,layout2", [(a, b) for a, b in LAYOUT_PAIRS if a <= b])
def test_gradcheck_float64(layout1, layout2, reduction):
    """torch.autograd.gradcheck with the layouts made inside the checked function."""
    generator = torch.Generator().manual_seed(2)
    shape1, view1 = torch_layout(layout1, GRADCHECK_SHAPE)
    shape2, view2 = torch_layout(layout2, GRADCHECK_SHAPE)
    base1 = torch.randn(shape1, dtype=torch.float64, generator=generator, requires_grad=True)
    base2 = torch.randn(shape2, dtype=torch.float64, generator=generator, requires_grad=True)

    def loss(a, b):
        return cauchy.cauchy_loss(view1(a), view2(b), reduction)

    assert torch.autograd.gradcheck(loss, (base1, base2))
    assert torch.autograd.gradcheck(loss, (base1, base2.detach()))  # img1's gradient only


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", TORCH_LAYOUTS)
def test_upstream_gradient_layouts(layout, dtype):
    """A non-contiguous upstream gradient of reduction 'none' is used as it is."""
    generator = torch.Generator().manual_seed(3)
    img1 = torch.randn(SHAPE, dtype=dtype, generator=generator, requires_grad=True)
    img2 = torch.randn(SHAPE, dtype=dtype, generator=generator)
    upstream = torch_tensor(layout, SHAPE, dtype, generator)
    [got] = torch.autograd.grad(cauchy.cauchy_loss(img1, img2), img1, upstream)
    expected = values(upstream) * reference_grad(values(img1), values(img2))
    assert_ulp(got.numpy(), expected, dtype_name(dtype))


def test_calls_get_the_tensors_memory(monkeypatch):
    """Forward and backward pass each tensor's own data_ptr() and strides (no copy), the
    expanded upstream gradient of .sum() included, and skip the gradient not needed."""
    spy = Spy(cauchy._lib.LIB)
    monkeypatch.setattr(cauchy._lib, "LIB", spy)
    generator = torch.Generator().manual_seed(4)
    img1 = leaf(torch_tensor("sliced", SHAPE, torch.float32, generator))
    img2 = torch_tensor("expanded", SHAPE, torch.float32, generator)
    loss = cauchy.cauchy_loss(img1, img2)
    loss.sum().backward()
    names = [name for name, _ in spy.calls if name.startswith("cauchy_loss")]
    assert names == ["cauchy_loss_f32", "cauchy_loss_backward_f32"]
    forward, backward = (args for name, args in spy.calls if name.startswith("cauchy_loss"))

    def own(tensor):
        return (tensor.data_ptr(), tuple(tensor.shape), tensor.stride())

    assert passed(*forward[0:2]) == own(img1)
    assert passed(*forward[2:4]) == own(img2)
    assert passed(*forward[5:7]) == own(loss)
    assert passed(*backward[0:2]) == own(img1)
    assert passed(*backward[2:4]) == own(img2)
    assert passed(*backward[5:7])[2] == (0, 0, 0, 0)  # the expanded ones of .sum()'s backward
    assert passed(*backward[7:9]) == own(img1.grad)
    assert passed(*backward[9:11]) is None  # img2 needs no gradient
    assert img2.grad is None


@pytest.mark.parametrize("dtype", DTYPES)
def test_kornia_example(dtype):
    """Kornia's usage example, side by side with kornia.losses."""
    generator = torch.Generator().manual_seed(5)
    img1 = torch.randn(2, 3, 32, 32, dtype=dtype, generator=generator, requires_grad=True)
    img2 = torch.randn(2, 3, 32, 32, dtype=dtype, generator=generator)
    criterion = cauchy.CauchyLoss(reduction="mean")
    assert isinstance(criterion, torch.nn.Module)
    output = criterion(img1, img2)
    output.backward()
    ours = img1.grad.clone()
    img1.grad = None
    want = kornia.losses.CauchyLoss(reduction="mean")(img1, img2)
    want.backward()
    torch.testing.assert_close(output, want, **KORNIA_TOL[dtype])
    torch.testing.assert_close(ours, img1.grad, **KORNIA_TOL[dtype])
    torch.testing.assert_close(
        cauchy.cauchy_loss(img1, img2, reduction="sum"),
        kornia.losses.cauchy_loss(img1, img2, reduction="sum"),
        **KORNIA_TOL[dtype],
    )


def test_empty_and_scalar():
    empty = torch.zeros(2, 0, 3, requires_grad=True)
    assert cauchy.cauchy_loss(empty, empty).shape == (2, 0, 3)
    assert cauchy.cauchy_loss(empty, empty, "sum").item() == 0
    assert cauchy.cauchy_loss(empty, empty, "mean").isnan()
    cauchy.cauchy_loss(empty, empty.detach(), "sum").backward()
    assert empty.grad.shape == (2, 0, 3)
    scalar = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    loss = cauchy.cauchy_loss(scalar, torch.tensor(0.0, dtype=torch.float64))
    loss.backward()
    assert loss.shape == () and loss.item() == pytest.approx(np.log(3.0), rel=1e-15)
    assert scalar.grad.item() == pytest.approx(4 / 6, rel=1e-15)


def test_no_grad_and_not_twice_differentiable():
    img1 = torch.randn(5, dtype=torch.float64, requires_grad=True)
    img2 = torch.randn(5, dtype=torch.float64)
    with torch.no_grad():
        assert not cauchy.cauchy_loss(img1, img2).requires_grad
    [grad] = torch.autograd.grad(cauchy.cauchy_loss(img1, img2, "sum"), img1, create_graph=True)
    assert not grad.requires_grad  # first derivatives only


def test_errors():
    ok = torch.zeros(2, 3)
    mismatch = "img2 shape \\[3, 2\\] does not match img1 shape \\[2, 3\\]"
    with pytest.raises(cauchy.CauchyError, match=mismatch):
        cauchy.cauchy_loss(ok, torch.zeros(3, 2))
    with pytest.raises(cauchy.CauchyError, match="does not match"):
        cauchy.cauchy_loss(ok, torch.zeros(3), "sum")  # no broadcasting
    with pytest.raises(TypeError, match="one dtype"):
        cauchy.cauchy_loss(ok, ok.double())
    with pytest.raises(TypeError, match="float32 or float64"):
        cauchy.cauchy_loss(ok.half(), ok.half())
    with pytest.raises(TypeError, match="float32 or float64"):
        cauchy.cauchy_loss(ok.long(), ok.long())
    with pytest.raises(TypeError, match="both NumPy arrays or both torch tensors"):
        cauchy.cauchy_loss(ok, ok.numpy())
    with pytest.raises(TypeError, match="layout"):
        cauchy.cauchy_loss(ok.to_sparse(), ok.to_sparse())
    with pytest.raises(ValueError, match="CPU"):
        cauchy.cauchy_loss(ok.to("meta"), ok.to("meta"))
    with pytest.raises(ValueError, match="reduction is not supported"):
        cauchy.CauchyLoss("avg")(ok, ok)
