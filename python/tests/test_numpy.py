"""cauchy_loss / CauchyLoss on NumPy arrays against the float64 NumPy reference: every layout
pair, both dtypes, the three reductions, empty and 0-d arrays, extreme float32 values, the
library's memory passed without a copy, and the errors."""

import itertools

import pytest
from support import (
    LAYOUTS, Spy, assert_sum, assert_ulp, np, numpy_array, passed, reference_loss,
    reference_reduce,
)

import cauchy

DTYPES = ["float32", "float64"]
SHAPE = (2, 3, 4, 5)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout1,layout2", list(itertools.product(LAYOUTS, LAYOUTS)))
def test_layouts_against_reference(layout1, layout2, dtype):
    rng = np.random.default_rng(0)
    img1 = numpy_array(layout1, SHAPE, dtype, rng)
    img2 = numpy_array(layout2, SHAPE, dtype, rng)
    expected = reference_loss(img1, img2)
    loss = cauchy.cauchy_loss(img1, img2)
    assert loss.flags.c_contiguous
    assert_ulp(loss, expected, dtype)
    for reduction in ("mean", "sum"):
        result = cauchy.cauchy_loss(img1, img2, reduction)
        assert result.shape == () and result.dtype == np.dtype(dtype)
        assert_sum(result, reference_reduce(expected, reduction), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(), (1,), (7,), (1, 1, 1), (3, 1, 2)])
def test_small_shapes(shape, dtype):
    rng = np.random.default_rng(1)
    img1, img2 = (numpy_array("contiguous", shape, dtype, rng) for _ in range(2))
    expected = reference_loss(img1, img2)
    assert_ulp(cauchy.cauchy_loss(img1, img2), expected, dtype)
    assert_sum(cauchy.cauchy_loss(img1, img2, "sum"), reference_reduce(expected, "sum"), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_empty(dtype):
    img = np.zeros((2, 0, 3), dtype)
    assert cauchy.cauchy_loss(img, img).shape == (2, 0, 3)
    assert cauchy.cauchy_loss(img, img, "sum") == 0
    assert np.isnan(cauchy.cauchy_loss(img, img, "mean"))


def test_float32_extremes():
    """float32 residuals from subnormal to 2 * FLT_MAX: finite, and close to the reference."""
    big = np.finfo(np.float32).max
    tiny = np.float32(2**-149)
    img1 = np.array([big, 3e19, 1e-30, tiny, 0.0, -0.0, 1.0], np.float32)
    img2 = np.array([-big, -3e19, 0.0, 0.0, -0.0, 0.0, 1.0], np.float32)
    loss = cauchy.cauchy_loss(img1, img2)
    assert np.all(np.isfinite(loss))
    assert_ulp(loss, reference_loss(img1, img2), "float32")


def test_matches_formula_of_kornia():
    """log(0.5 * d^2 + 1) evaluated in float64 agrees with the float32 loss for moderate d."""
    rng = np.random.default_rng(2)
    img1, img2 = (rng.standard_normal(1000).astype(np.float32) for _ in range(2))
    d = img1.astype(np.float64) - img2
    np.testing.assert_allclose(cauchy.cauchy_loss(img1, img2), np.log(0.5 * d**2 + 1), rtol=1e-6)


def test_criterion():
    rng = np.random.default_rng(3)
    img1, img2 = (rng.standard_normal((4, 5)) for _ in range(2))
    for reduction in ("none", "mean", "sum", None):
        criterion = cauchy.CauchyLoss(reduction)
        want = cauchy.cauchy_loss(img1, img2, reduction)
        np.testing.assert_array_equal(criterion(img1, img2), want)
    np.testing.assert_array_equal(cauchy.CauchyLoss()(img1, img2), cauchy.cauchy_loss(img1, img2))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_no_copy(layout, monkeypatch):
    """The library gets each array's own address and its strides in elements."""
    spy = Spy(cauchy._lib.LIB)
    monkeypatch.setattr(cauchy._lib, "LIB", spy)
    rng = np.random.default_rng(4)
    img1 = numpy_array(layout, SHAPE, np.float32, rng)
    img2 = numpy_array("flipped", SHAPE, np.float32, rng)
    out = cauchy.cauchy_loss(img1, img2)
    [(name, args)] = [call for call in spy.calls if call[0].startswith("cauchy_loss")]
    assert name == "cauchy_loss_f32"
    for array, (ptr, desc) in [(img1, args[0:2]), (img2, args[2:4]), (out, args[5:7])]:
        strides = tuple(s // array.itemsize for s in array.strides)
        assert passed(ptr, desc) == (array.ctypes.data, array.shape, strides)


def test_shape_mismatch_raises_library_message():
    img1, img2 = np.zeros((2, 3, 4)), np.zeros((2, 3, 5))
    with pytest.raises(cauchy.CauchyError) as info:
        cauchy.cauchy_loss(img1, img2)
    error = info.value
    assert isinstance(error, ValueError)
    assert error.status == 2 and error.status_name == "CAUCHY_STATUS_SHAPE_MISMATCH"
    assert error.message == "img2 shape [2, 3, 5] does not match img1 shape [2, 3, 4]"
    assert str(error) == f"CAUCHY_STATUS_SHAPE_MISMATCH: {error.message}"
    with pytest.raises(cauchy.CauchyError, match="does not match"):
        cauchy.cauchy_loss(np.zeros(3), np.zeros((1, 3)), "mean")  # no broadcasting


def test_misaligned_raises_library_message():
    buffer = np.zeros(17, np.uint8)
    img = buffer[1:].view(np.float32)  # a float32 view one byte past an aligned address
    assert img.ctypes.data % 4 != 0
    with pytest.raises(cauchy.CauchyError) as info:
        cauchy.cauchy_loss(img, np.zeros(4, np.float32))
    assert info.value.status_name == "CAUCHY_STATUS_INVALID_ARGUMENT"
    assert "img1" in info.value.message and "align" in info.value.message


def test_stride_not_a_multiple_of_the_item_size():
    buffer = np.zeros(64, np.uint8)
    img = np.ndarray((3,), np.float32, buffer, strides=(6,))
    with pytest.raises(ValueError, match="stride of 6 bytes"):
        cauchy.cauchy_loss(img, np.zeros(3, np.float32))


@pytest.mark.parametrize(
    "img1,img2",
    [
        (np.zeros(3, np.float32), np.zeros(3, np.float64)),  # two dtypes
        (np.zeros(3, np.int32), np.zeros(3, np.int32)),
        (np.zeros(3, np.float16), np.zeros(3, np.float16)),
        (np.zeros(3, ">f8"), np.zeros(3, ">f8")),  # not the native byte order
        ([0.0, 1.0], [0.0, 1.0]),  # not arrays
        (np.zeros(3), 0.0),
    ],
)
def test_type_errors(img1, img2):
    with pytest.raises(TypeError):
        cauchy.cauchy_loss(img1, img2)


@pytest.mark.parametrize("reduction", ["avg", "MEAN", 1, ""])
def test_invalid_reduction(reduction):
    with pytest.raises(ValueError, match="reduction is not supported"):
        cauchy.cauchy_loss(np.zeros(3), np.zeros(3), reduction)
