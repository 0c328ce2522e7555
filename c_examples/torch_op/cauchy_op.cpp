// cauchy_op.cpp -- libcauchy as a PyTorch operator with an autograd formula.
//
//   torch.ops.cauchy.loss(img1, img2, reduction=0) -> Tensor
//       Kornia's cauchy_loss of two CPU tensors of one shape and one dtype (float32 or
//       float64), any strides; reduction 0 = none, 1 = mean, 2 = sum (ATen's at::Reduction).
//       Differentiable in img1 and img2: the backward pass is cauchy::loss_backward.
//   torch.ops.cauchy.loss_backward(grad_out, img1, img2, reduction, output_mask)
//       -> (Tensor, Tensor)
//       the gradients for img1 and img2, each computed only where output_mask says so.
//
// The CPU kernels pass each tensor's own data pointer, sizes and strides to cauchy_loss_* and
// cauchy_loss_backward_* (no copy); a failed call raises the library's status name and
// message (ValueError from Python). The Autograd kernel is a torch::autograd::Function.
//
// Build and load it with PyTorch's JIT extension builder (needs ninja and a C++ compiler), from
// the repository root after `cargo build --release`:
//
//   import os, torch
//   from torch.utils.cpp_extension import load
//   lib = os.path.abspath("target/release")
//   load(name="cauchy_op", sources=["c_examples/torch_op/cauchy_op.cpp"],
//        extra_include_paths=[os.path.abspath("include")],
//        extra_ldflags=[f"-L{lib}", "-lcauchy", f"-Wl,-rpath,{lib}"], is_python_module=False)
//   loss = torch.ops.cauchy.loss(img1, img2, 1)
//
// (python/tests/test_torch_op.py builds it this way and checks it against Kornia.)

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/library.h>

#include <array>
#include <tuple>

#include "cauchy.h"

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// A descriptor over the tensor's own sizes and strides: valid while the tensor lives.
CauchyTensorDesc describe(const at::Tensor& t) {
    return CauchyTensorDesc{static_cast<size_t>(t.dim()), t.sizes().data(), t.strides().data()};
}

// Raise the library's status name and message as a Python ValueError.
void check(CauchyStatus status) {
    TORCH_CHECK_VALUE(status == CAUCHY_STATUS_OK, cauchy_status_name(status), ": ",
                      cauchy_last_error_message());
}

// The tensor, checked to be of `dtype`, with any negative-view flag resolved. (The kernels are
// registered for CPU only: the dispatcher rejects other devices and sparse layouts.)
at::Tensor operand(const char* name, const at::Tensor& t, at::ScalarType dtype) {
    TORCH_CHECK_TYPE(t.scalar_type() == dtype, name, " is ", t.scalar_type(), ", expected ", dtype);
    return t.resolve_neg();
}

at::ScalarType float_dtype(const at::Tensor& img1) {
    at::ScalarType dtype = img1.scalar_type();
    TORCH_CHECK_TYPE(dtype == at::kFloat || dtype == at::kDouble,
                     "img1 must be float32 or float64, got ", dtype);
    return dtype;
}

int32_t reduction_value(int64_t reduction) {
    TORCH_CHECK_VALUE(reduction >= 0 && reduction <= 2,
                      "reduction must be 0 (none), 1 (mean) or 2 (sum), got ", reduction);
    return static_cast<int32_t>(reduction);
}

// The data pointer for a tensor that may be undefined (a gradient that is not wanted).
template <typename T>
T* data_or_null(at::Tensor& t) {
    return t.defined() ? t.data_ptr<T>() : nullptr;
}

at::Tensor loss_cpu(const at::Tensor& img1_in, const at::Tensor& img2_in, int64_t reduction) {
    const at::ScalarType dtype = float_dtype(img1_in);
    const int32_t r = reduction_value(reduction);
    const at::Tensor img1 = operand("img1", img1_in, dtype);
    const at::Tensor img2 = operand("img2", img2_in, dtype);
    at::Tensor out = at::empty(r == CAUCHY_REDUCTION_NONE ? img1.sizes() : at::IntArrayRef{},
                               img1.options());
    const CauchyTensorDesc d1 = describe(img1), d2 = describe(img2), dout = describe(out);
    if (dtype == at::kFloat) {
        check(cauchy_loss_f32(img1.data_ptr<float>(), &d1, img2.data_ptr<float>(), &d2, r,
                              out.data_ptr<float>(), &dout));
    } else {
        check(cauchy_loss_f64(img1.data_ptr<double>(), &d1, img2.data_ptr<double>(), &d2, r,
                              out.data_ptr<double>(), &dout));
    }
    return out;
}

std::tuple<at::Tensor, at::Tensor> loss_backward_cpu(const at::Tensor& grad_out_in,
                                                     const at::Tensor& img1_in,
                                                     const at::Tensor& img2_in, int64_t reduction,
                                                     std::array<bool, 2> output_mask) {
    const at::ScalarType dtype = float_dtype(img1_in);
    const int32_t r = reduction_value(reduction);
    const at::Tensor img1 = operand("img1", img1_in, dtype);
    const at::Tensor img2 = operand("img2", img2_in, dtype);
    const at::Tensor grad_out = operand("grad_out", grad_out_in, dtype);
    at::Tensor grad1 = output_mask[0] ? at::empty(img1.sizes(), img1.options()) : at::Tensor();
    at::Tensor grad2 = output_mask[1] ? at::empty(img1.sizes(), img1.options()) : at::Tensor();
    const CauchyTensorDesc d1 = describe(img1), d2 = describe(img2), dg = describe(grad_out);
    // An undefined gradient is skipped: NULL pointer and descriptor.
    const CauchyTensorDesc dg1 = grad1.defined() ? describe(grad1) : CauchyTensorDesc{};
    const CauchyTensorDesc dg2 = grad2.defined() ? describe(grad2) : CauchyTensorDesc{};
    const CauchyTensorDesc* pg1 = grad1.defined() ? &dg1 : nullptr;
    const CauchyTensorDesc* pg2 = grad2.defined() ? &dg2 : nullptr;
    if (dtype == at::kFloat) {
        check(cauchy_loss_backward_f32(img1.data_ptr<float>(), &d1, img2.data_ptr<float>(), &d2, r,
                                       grad_out.data_ptr<float>(), &dg, data_or_null<float>(grad1),
                                       pg1, data_or_null<float>(grad2), pg2));
    } else {
        check(cauchy_loss_backward_f64(img1.data_ptr<double>(), &d1, img2.data_ptr<double>(), &d2,
                                       r, grad_out.data_ptr<double>(), &dg,
                                       data_or_null<double>(grad1), pg1,
                                       data_or_null<double>(grad2), pg2));
    }
    return {grad1, grad2};
}

// The forward and backward ops through the dispatcher.
at::Tensor call_loss(const at::Tensor& img1, const at::Tensor& img2, int64_t reduction) {
    static const auto op = c10::Dispatcher::singleton()
                               .findSchemaOrThrow("cauchy::loss", "")
                               .typed<at::Tensor(const at::Tensor&, const at::Tensor&, int64_t)>();
    return op.call(img1, img2, reduction);
}

std::tuple<at::Tensor, at::Tensor> call_loss_backward(const at::Tensor& grad_out,
                                                      const at::Tensor& img1,
                                                      const at::Tensor& img2, int64_t reduction,
                                                      std::array<bool, 2> output_mask) {
    static const auto op =
        c10::Dispatcher::singleton()
            .findSchemaOrThrow("cauchy::loss_backward", "")
            .typed<std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&,
                                                      const at::Tensor&, int64_t,
                                                      std::array<bool, 2>)>();
    return op.call(grad_out, img1, img2, reduction, output_mask);
}

// d loss / d img1 and d loss / d img2 by cauchy::loss_backward, only those that are needed.
class CauchyLossFunction : public torch::autograd::Function<CauchyLossFunction> {
public:
    static at::Tensor forward(AutogradContext* ctx, const at::Tensor& img1, const at::Tensor& img2,
                              int64_t reduction) {
        ctx->save_for_backward({img1, img2});
        ctx->saved_data["reduction"] = reduction;
        at::AutoDispatchBelowADInplaceOrView guard;
        return call_loss(img1, img2, reduction);
    }

    static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
        const variable_list saved = ctx->get_saved_variables();
        const std::array<bool, 2> mask{ctx->needs_input_grad(0), ctx->needs_input_grad(1)};
        auto [grad1, grad2] = call_loss_backward(grad_outputs[0], saved[0], saved[1],
                                                 ctx->saved_data["reduction"].toInt(), mask);
        return {grad1, grad2, at::Tensor()};
    }
};

at::Tensor loss_autograd(const at::Tensor& img1, const at::Tensor& img2, int64_t reduction) {
    return CauchyLossFunction::apply(img1, img2, reduction);
}

}  // namespace

TORCH_LIBRARY(cauchy, m) {
    m.def("loss(Tensor img1, Tensor img2, int reduction=0) -> Tensor");
    m.def("loss_backward(Tensor grad_out, Tensor img1, Tensor img2, int reduction, "
          "bool[2] output_mask) -> (Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(cauchy, CPU, m) {
    m.impl("loss", &loss_cpu);
    m.impl("loss_backward", &loss_backward_cpu);
}

TORCH_LIBRARY_IMPL(cauchy, Autograd, m) {
    m.impl("loss", &loss_autograd);
}
