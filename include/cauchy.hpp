/*
 * cauchy.hpp -- libcauchy for C++17: the functions of cauchy.h with overloads and exceptions.
 *
 * Introduction
 *   Header-only: it calls the C functions of cauchy.h, so link libcauchy as for C. Everything
 *   is in namespace cauchy, and every function works on float and on double (the _f32 and _f64
 *   functions of the C API). The semantics, accuracy and thread rules are those of cauchy.h.
 *
 * Tensors
 *   Three ways to pass operands:
 *   - std::vector: one-dimensional and contiguous; the results come back as values.
 *   - pointer + size: n contiguous elements; a MEAN / SUM result is one element, and a null
 *     gradient pointer skips that gradient.
 *   - TensorView<T>: a data pointer, a shape and strides counted in elements (empty strides:
 *     C-contiguous), the C descriptor's rules: any sign, 0 for inputs (an expanded view), and
 *     data points at element [0, ..., 0]. Inputs may be views of const or non-const elements.
 *   As in C, operands have img1's shape (a MEAN / SUM result or upstream gradient: one element)
 *   and the library touches only the elements they describe.
 *
 * Errors
 *   Any status other than CAUCHY_STATUS_OK throws cauchy::Error, a std::runtime_error whose
 *   status() is the CauchyStatus and message() the library's message (what() is both:
 *   "CAUCHY_STATUS_SHAPE_MISMATCH: img2 shape [3] does not match img1 shape [4]"). As in C,
 *   nothing was written when a call throws for a status from 1 to 6.
 *
 * Example
 *       std::vector<float> pred = {0.5f, -1.0f, 2.0f}, target = {0.0f, 0.0f, 1.0f};
 *       float mean = cauchy::loss(pred, target, cauchy::Reduction::Mean);
 *       auto [sum, grad] = cauchy::loss_and_grad(pred, target, cauchy::Reduction::Sum);
 */

#ifndef CAUCHY_HPP
#define CAUCHY_HPP

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "cauchy.h"

#if __cplusplus < 201703L && !(defined(_MSVC_LANG) && _MSVC_LANG >= 201703L)
#error "cauchy.hpp needs C++17 (cauchy.h alone needs C++11)"
#endif

namespace cauchy {

/** The reductions, with the values of CAUCHY_REDUCTION_* (and ATen's at::Reduction). */
enum class Reduction : int32_t {
    None = CAUCHY_REDUCTION_NONE, /* the element-wise loss tensor */
    Mean = CAUCHY_REDUCTION_MEAN, /* the sum of the losses / numel, one element */
    Sum = CAUCHY_REDUCTION_SUM,   /* the sum of the losses, one element */
};

/** A failed call: the status (never CAUCHY_STATUS_OK) and the library's message. */
class Error : public std::runtime_error {
public:
    Error(CauchyStatus status, const std::string &message)
        : std::runtime_error(std::string(cauchy_status_name(status)) + ": " + message),
          status_(status), message_(message) {}

    /** The CauchyStatus the C function returned, e.g. CAUCHY_STATUS_SHAPE_MISMATCH. */
    CauchyStatus status() const noexcept { return status_; }

    /** cauchy_last_error_message() of the failed call. */
    const std::string &message() const noexcept { return message_; }

private:
    CauchyStatus status_;
    std::string message_;
};

/**
 * A strided tensor: element [i0, ..., in] is data[i0*strides[0] + ... + in*strides[n]].
 * An empty shape is a scalar (one element); empty strides mean C-contiguous. T is float or
 * double, const for inputs. A view with a null data pointer skips an optional gradient.
 */
template <typename T>
struct TensorView {
    T *data = nullptr;
    std::vector<int64_t> shape;
    std::vector<int64_t> strides;
};

/** The result of the vector loss_and_grad(): the loss and d loss / d img1 (d img2 is -grad). */
template <typename T>
struct LossAndGrad {
    T loss;
    std::vector<T> grad;
};

namespace detail {

/* The C functions for each element type. */
template <typename T>
struct Api;

template <>
struct Api<float> {
    static constexpr auto loss = cauchy_loss_f32;
    static constexpr auto backward = cauchy_loss_backward_f32;
    static constexpr auto loss_and_grad = cauchy_loss_and_grad_f32;
    static constexpr auto reduce = cauchy_reduce_f32;
};

template <>
struct Api<double> {
    static constexpr auto loss = cauchy_loss_f64;
    static constexpr auto backward = cauchy_loss_backward_f64;
    static constexpr auto loss_and_grad = cauchy_loss_and_grad_f64;
    static constexpr auto reduce = cauchy_reduce_f64;
};

/* The element type of views over O, I... (outputs O, inputs const or not): float or double. */
template <typename O, typename... I>
struct Element {
    using type = std::remove_const_t<O>;
    static_assert(std::is_same_v<type, float> || std::is_same_v<type, double>,
                  "cauchy: the element type is float or double");
    static_assert((std::is_same_v<type, std::remove_const_t<I>> && ...),
                  "cauchy: every operand of a call has the same element type");
};

/* T in a parameter that takes no part in deducing T: a nullptr converts to Same<T> *. */
template <typename T>
struct Identity {
    using type = T;
};
template <typename T>
using Same = typename Identity<T>::type;

inline void check(CauchyStatus status) {
    if (status != CAUCHY_STATUS_OK) {
        const char *message = cauchy_last_error_message();
        throw Error(status, message != nullptr ? message : "");
    }
}

inline void check_reduced(Reduction reduction) {
    if (reduction == Reduction::None) {
        throw Error(CAUCHY_STATUS_INVALID_REDUCTION,
                    "this overload returns one value: use Reduction::Mean or Reduction::Sum");
    }
}

/* The C descriptor of a view; it points into the view, which must outlive the call. */
template <typename T>
CauchyTensorDesc desc(const TensorView<T> &v) {
    if (!v.strides.empty() && v.strides.size() != v.shape.size()) {
        throw Error(CAUCHY_STATUS_INVALID_SHAPE,
                    "the view has " + std::to_string(v.strides.size()) + " strides for " +
                        std::to_string(v.shape.size()) + " dimensions");
    }
    return {v.shape.size(), v.shape.empty() ? nullptr : v.shape.data(),
            v.strides.empty() ? nullptr : v.strides.data()};
}

/* A one-dimensional descriptor of n elements; shape must outlive the call. */
inline CauchyTensorDesc desc_1d(const int64_t *shape) { return {1, shape, nullptr}; }

inline int64_t size(std::size_t n) { return static_cast<int64_t>(n); }

}  // namespace detail

/* ---- Strided views ----------------------------------------------------------------------- */

/** The loss of img1 and img2 into out: img1's shape (NONE) or one element (MEAN / SUM). */
template <typename A, typename B, typename O>
void loss(const TensorView<A> &img1, const TensorView<B> &img2, Reduction reduction,
          const TensorView<O> &out) {
    using T = typename detail::Element<O, A, B>::type;
    const CauchyTensorDesc d1 = detail::desc(img1), d2 = detail::desc(img2),
                           dout = detail::desc(out);
    detail::check(detail::Api<T>::loss(img1.data, &d1, img2.data, &d2,
                                       static_cast<int32_t>(reduction), out.data, &dout));
}

/**
 * The gradients for the upstream gradient grad_out (img1's shape for NONE, one element for
 * MEAN / SUM): grad_img1 = g * factor * 2d / (d^2 + 2), grad_img2 = -grad_img1. A gradient
 * view with a null data pointer (TensorView<T>{}) is skipped.
 */
template <typename A, typename B, typename G, typename O1, typename O2>
void loss_backward(const TensorView<A> &img1, const TensorView<B> &img2, Reduction reduction,
                   const TensorView<G> &grad_out, const TensorView<O1> &grad_img1,
                   const TensorView<O2> &grad_img2) {
    using T = typename detail::Element<O1, O2, A, B, G>::type;
    const CauchyTensorDesc d1 = detail::desc(img1), d2 = detail::desc(img2),
                           dg = detail::desc(grad_out), dg1 = detail::desc(grad_img1),
                           dg2 = detail::desc(grad_img2);
    detail::check(detail::Api<T>::backward(
        img1.data, &d1, img2.data, &d2, static_cast<int32_t>(reduction), grad_out.data, &dg,
        grad_img1.data, grad_img1.data != nullptr ? &dg1 : nullptr, grad_img2.data,
        grad_img2.data != nullptr ? &dg2 : nullptr));
}

/** loss() and loss_backward() with upstream gradient 1 in one pass (a training step). */
template <typename A, typename B, typename O, typename O1, typename O2>
void loss_and_grad(const TensorView<A> &img1, const TensorView<B> &img2, Reduction reduction,
                   const TensorView<O> &out, const TensorView<O1> &grad_img1,
                   const TensorView<O2> &grad_img2) {
    using T = typename detail::Element<O, O1, O2, A, B>::type;
    const CauchyTensorDesc d1 = detail::desc(img1), d2 = detail::desc(img2),
                           dout = detail::desc(out), dg1 = detail::desc(grad_img1),
                           dg2 = detail::desc(grad_img2);
    detail::check(detail::Api<T>::loss_and_grad(
        img1.data, &d1, img2.data, &d2, static_cast<int32_t>(reduction), out.data, &dout,
        grad_img1.data, grad_img1.data != nullptr ? &dg1 : nullptr, grad_img2.data,
        grad_img2.data != nullptr ? &dg2 : nullptr));
}

/** The MEAN or SUM of any tensor. */
template <typename X>
std::remove_const_t<X> reduce(const TensorView<X> &x, Reduction reduction) {
    using T = typename detail::Element<X>::type;
    const CauchyTensorDesc dx = detail::desc(x);
    T out = 0;
    detail::check(detail::Api<T>::reduce(x.data, &dx, static_cast<int32_t>(reduction), &out));
    return out;
}

/* ---- Pointer + size: n contiguous elements (T is img1's element type) -------------------- */

/** The loss into out: n elements (NONE) or one (MEAN / SUM). */
template <typename T>
void loss(const T *img1, const detail::Same<T> *img2, std::size_t n, Reduction reduction,
          detail::Same<T> *out) {
    const int64_t shape[1] = {detail::size(n)};
    const CauchyTensorDesc d = detail::desc_1d(shape);
    detail::check(detail::Api<T>::loss(img1, &d, img2, nullptr, static_cast<int32_t>(reduction),
                                       out, nullptr));
}

/** The gradients; grad_out is n elements (NONE) or one (MEAN / SUM); a null gradient is skipped. */
template <typename T>
void loss_backward(const T *img1, const detail::Same<T> *img2, std::size_t n,
                   Reduction reduction, const detail::Same<T> *grad_out,
                   detail::Same<T> *grad_img1, detail::Same<T> *grad_img2) {
    const int64_t shape[1] = {detail::size(n)};
    const CauchyTensorDesc d = detail::desc_1d(shape);
    detail::check(detail::Api<T>::backward(img1, &d, img2, nullptr,
                                           static_cast<int32_t>(reduction), grad_out, nullptr,
                                           grad_img1, nullptr, grad_img2, nullptr));
}

/** The loss (n elements or one) and the gradients (n elements; null skips one) in one pass. */
template <typename T>
void loss_and_grad(const T *img1, const detail::Same<T> *img2, std::size_t n,
                   Reduction reduction, detail::Same<T> *out, detail::Same<T> *grad_img1,
                   detail::Same<T> *grad_img2) {
    const int64_t shape[1] = {detail::size(n)};
    const CauchyTensorDesc d = detail::desc_1d(shape);
    detail::check(detail::Api<T>::loss_and_grad(img1, &d, img2, nullptr,
                                                static_cast<int32_t>(reduction), out, nullptr,
                                                grad_img1, nullptr, grad_img2, nullptr));
}

/** The MEAN or SUM of n elements. */
template <typename T>
T reduce(const T *x, std::size_t n, Reduction reduction) {
    const int64_t shape[1] = {detail::size(n)};
    const CauchyTensorDesc d = detail::desc_1d(shape);
    T out = 0;
    detail::check(detail::Api<T>::reduce(x, &d, static_cast<int32_t>(reduction), &out));
    return out;
}

/* ---- std::vector: one-dimensional, results returned ------------------------------------- */

/** The element-wise loss (Reduction::None). */
template <typename T>
std::vector<T> loss(const std::vector<T> &img1, const std::vector<T> &img2) {
    std::vector<T> out(img1.size());
    loss(TensorView<const T>{img1.data(), {detail::size(img1.size())}, {}},
         TensorView<const T>{img2.data(), {detail::size(img2.size())}, {}}, Reduction::None,
         TensorView<T>{out.data(), {detail::size(out.size())}, {}});
    return out;
}

/** The MEAN or SUM of the loss. */
template <typename T>
T loss(const std::vector<T> &img1, const std::vector<T> &img2, Reduction reduction) {
    detail::check_reduced(reduction);
    T out = 0;
    loss(TensorView<const T>{img1.data(), {detail::size(img1.size())}, {}},
         TensorView<const T>{img2.data(), {detail::size(img2.size())}, {}}, reduction,
         TensorView<T>{&out, {}, {}});
    return out;
}

/** d loss / d img1 for the upstream gradient grad_out (n elements for NONE, one for MEAN / SUM). */
template <typename T>
std::vector<T> loss_backward(const std::vector<T> &img1, const std::vector<T> &img2,
                             Reduction reduction, const std::vector<T> &grad_out) {
    std::vector<T> grad(img1.size());
    loss_backward(TensorView<const T>{img1.data(), {detail::size(img1.size())}, {}},
                  TensorView<const T>{img2.data(), {detail::size(img2.size())}, {}}, reduction,
                  TensorView<const T>{grad_out.data(), {detail::size(grad_out.size())}, {}},
                  TensorView<T>{grad.data(), {detail::size(grad.size())}, {}}, TensorView<T>{});
    return grad;
}

/** The MEAN or SUM loss and d loss / d img1 in one pass (a training step). */
template <typename T>
LossAndGrad<T> loss_and_grad(const std::vector<T> &img1, const std::vector<T> &img2,
                             Reduction reduction) {
    detail::check_reduced(reduction);
    LossAndGrad<T> result{0, std::vector<T>(img1.size())};
    loss_and_grad(TensorView<const T>{img1.data(), {detail::size(img1.size())}, {}},
                  TensorView<const T>{img2.data(), {detail::size(img2.size())}, {}}, reduction,
                  TensorView<T>{&result.loss, {}, {}},
                  TensorView<T>{result.grad.data(), {detail::size(result.grad.size())}, {}},
                  TensorView<T>{});
    return result;
}

/** The MEAN or SUM of a vector. */
template <typename T>
T reduce(const std::vector<T> &x, Reduction reduction) {
    return reduce(TensorView<const T>{x.data(), {detail::size(x.size())}, {}}, reduction);
}

/* ---- The library ------------------------------------------------------------------------- */

/** The library's version, "MAJOR.MINOR.PATCH" (CAUCHY_VERSION_STRING is the header's). */
inline std::string version() { return cauchy_version_string(); }

/** Set the thread count of later calls (0: the default); more than 4096 throws. */
inline void set_num_threads(std::size_t n) { detail::check(cauchy_set_num_threads(n)); }

/** The thread count calls use now. */
inline std::size_t num_threads() { return cauchy_get_num_threads(); }

}  // namespace cauchy

#endif /* CAUCHY_HPP */
