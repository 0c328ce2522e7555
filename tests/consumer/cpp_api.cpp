/*
 * cpp_api.cpp -- include/cauchy.hpp from C++17, built against an installed libcauchy by
 * tests/install.rs with -Wall -Wextra -Wpedantic -Werror.
 *
 * Float and double through each door (std::vector, pointer + size, strided views: transposed,
 * flipped, expanded, a strided output, in place), checked against the formulas in double, and
 * the errors: each failure throws cauchy::Error with the C status and the library's message,
 * and leaves the outputs as they were. Prints "ok <check>" per check and "FAIL <check>: ..."
 * for a failure, then "cpp_api: <n> checks, <f> failed"; exits 1 if any failed.
 */
#include <cauchy.hpp>

#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

static_assert(static_cast<int32_t>(cauchy::Reduction::None) == CAUCHY_REDUCTION_NONE);
static_assert(static_cast<int32_t>(cauchy::Reduction::Mean) == CAUCHY_REDUCTION_MEAN);
static_assert(static_cast<int32_t>(cauchy::Reduction::Sum) == CAUCHY_REDUCTION_SUM);
static_assert(std::is_base_of_v<std::runtime_error, cauchy::Error>);

using cauchy::Reduction;
using cauchy::TensorView;

static int checks = 0, failures = 0;

static void check(bool ok, const std::string &what, const std::string &detail = "") {
    checks++;
    if (ok) {
        std::printf("ok %s\n", what.c_str());
    } else {
        failures++;
        std::printf("FAIL %s: %s\n", what.c_str(), detail.c_str());
    }
}

template <typename T>
static const char *type_name() {
    return std::is_same_v<T, float> ? "float" : "double";
}

/* The formulas in double, and a tolerance a few ULP wide for T. */
static double loss_of(double d) { return std::log1p(d * d / 2.0); }
static double grad_of(double d) { return 2.0 * d / (d * d + 2.0); }

template <typename T>
static bool close(T got, double want) {
    const double tol = std::is_same_v<T, float> ? 4e-7 : 1e-15;
    return std::fabs(static_cast<double>(got) - want) <= tol * std::fabs(want) + 1e-300;
}

template <typename T>
static bool all_close(const std::vector<T> &got, const std::vector<double> &want) {
    if (got.size() != want.size()) {
        return false;
    }
    for (std::size_t i = 0; i < got.size(); i++) {
        if (!close(got[i], want[i])) {
            return false;
        }
    }
    return true;
}

/* Run f, which must throw cauchy::Error with `status` and exactly `message` (if not empty). */
template <typename F>
static void expect_error(const std::string &what, CauchyStatus status, const std::string &message,
                         F f) {
    try {
        f();
        check(false, what, "no exception");
    } catch (const cauchy::Error &e) {
        const std::string want_what = std::string(cauchy_status_name(status)) + ": " + e.message();
        check(e.status() == status && (message.empty() || e.message() == message) &&
                  want_what == e.what(),
              what,
              std::string("status ") + cauchy_status_name(e.status()) + ", what() " + e.what());
    } catch (const std::exception &e) {
        check(false, what, std::string("another exception: ") + e.what());
    }
}

template <typename T>
static void contiguous() {
    const std::string ty = type_name<T>();
    const std::vector<T> img1 = {T(1.0), T(-1.0), T(2.5), T(0.5), T(-3.0), T(1e-3)};
    const std::vector<T> img2 = {T(0.0), T(0.0), T(0.5), T(0.5), T(1.0), T(0.0)};
    const std::size_t n = img1.size();
    std::vector<double> d(n), loss(n), grad(n);
    double sum = 0.0;
    for (std::size_t i = 0; i < n; i++) {
        d[i] = static_cast<double>(img1[i]) - static_cast<double>(img2[i]);
        loss[i] = loss_of(d[i]);
        grad[i] = grad_of(d[i]);
        sum += loss[i];
    }
    std::vector<double> grad_mean(n), grad_3(n);
    for (std::size_t i = 0; i < n; i++) {
        grad_mean[i] = grad[i] / static_cast<double>(n);
        grad_3[i] = 3.0 * grad[i];
    }

    // std::vector
    check(all_close(cauchy::loss(img1, img2), loss), ty + " vector loss NONE");
    check(close(cauchy::loss(img1, img2, Reduction::Sum), sum), ty + " vector loss SUM");
    check(close(cauchy::loss(img1, img2, Reduction::Mean), sum / static_cast<double>(n)),
          ty + " vector loss MEAN");
    auto [mean, g] = cauchy::loss_and_grad(img1, img2, Reduction::Mean);
    check(close(mean, sum / static_cast<double>(n)) && all_close(g, grad_mean),
          ty + " vector loss_and_grad MEAN");
    check(all_close(cauchy::loss_backward(img1, img2, Reduction::Sum, std::vector<T>{T(3.0)}),
                    grad_3),
          ty + " vector loss_backward SUM, grad_out 3");
    check(all_close(cauchy::loss_backward(img1, img2, Reduction::None, std::vector<T>(n, T(3.0))),
                    grad_3),
          ty + " vector loss_backward NONE, grad_out 3 per element");
    check(close(cauchy::reduce(img2, Reduction::Sum), 2.0), ty + " vector reduce SUM");
    check(close(cauchy::reduce(img2, Reduction::Mean), 2.0 / static_cast<double>(n)),
          ty + " vector reduce MEAN");

    // pointer + size
    std::vector<T> out(n), g1(n), g2(n);
    cauchy::loss(img1.data(), img2.data(), n, Reduction::None, out.data());
    check(all_close(out, loss), ty + " pointer loss NONE");
    T scalar = 0;
    cauchy::loss(img1.data(), img2.data(), n, Reduction::Sum, &scalar);
    check(close(scalar, sum), ty + " pointer loss SUM");
    const T three = T(3.0);
    cauchy::loss_backward(img1.data(), img2.data(), n, Reduction::Sum, &three, g1.data(),
                          g2.data());
    bool negated = true;
    for (std::size_t i = 0; i < n; i++) {
        negated = negated && g2[i] == -g1[i];
    }
    check(all_close(g1, grad_3) && negated,
          ty + " pointer loss_backward SUM, grad_img2 = -grad_img1");
    cauchy::loss_and_grad(img1.data(), img2.data(), n, Reduction::None, out.data(), g1.data(),
                          nullptr);
    check(all_close(out, loss) && all_close(g1, grad), ty + " pointer loss_and_grad NONE");
    check(close(cauchy::reduce(img1.data(), n, Reduction::Sum), static_cast<double>(img1[5])),
          ty + " pointer reduce SUM");
}

template <typename T>
static void strided() {
    const std::string ty = type_name<T>();
    // a (2x3, row-major) read transposed as 3x2 with strides {1, 3}; b is 3x2 row-major.
    std::vector<T> a = {T(1), T(2), T(3), T(4), T(5), T(6)};
    std::vector<T> b = {T(0.5), T(-1), T(2), T(0), T(7), T(1)};
    TensorView<const T> a_t{a.data(), {3, 2}, {1, 3}};
    TensorView<const T> b_v{b.data(), {3, 2}, {}};
    auto d = [&](std::size_t i, std::size_t j) {
        return static_cast<double>(a[i + 3 * j]) - static_cast<double>(b[2 * i + j]);
    };

    // A strided output: every other element of a buffer of 12 filled with a sentinel.
    std::vector<T> buf(12, T(-7));
    cauchy::loss(a_t, b_v, Reduction::None, TensorView<T>{buf.data(), {3, 2}, {4, 2}});
    bool ok = true;
    for (std::size_t i = 0; i < 3; i++) {
        for (std::size_t j = 0; j < 2; j++) {
            ok = ok && close(buf[4 * i + 2 * j], loss_of(d(i, j)));
            ok = ok && buf[4 * i + 2 * j + 1] == T(-7);
        }
    }
    check(ok, ty + " view: transposed input, strided output, gaps untouched");

    // A flipped view (negative stride, data at element [0]) and an expanded one (stride 0).
    TensorView<const T> a_flipped{a.data() + 5, {6}, {-1}};
    T scalar = 0;
    TensorView<const T> seven{&scalar, {6}, {0}};
    scalar = T(7);
    T sum = 0;
    cauchy::loss(a_flipped, seven, Reduction::Sum, TensorView<T>{&sum, {}, {}});
    double want = 0;
    for (std::size_t i = 0; i < 6; i++) {
        want += loss_of(static_cast<double>(a[5 - i]) - 7.0);
    }
    check(close(sum, want), ty + " view: flipped input against an expanded scalar, SUM");
    check(close(cauchy::reduce(a_flipped, Reduction::Mean), 3.5), ty + " view reduce MEAN");

    // loss_and_grad and loss_backward on views; a gradient view without data is skipped.
    T mean = 0;
    std::vector<T> g1(6), g2(6, T(-7)), gb(6);
    cauchy::loss_and_grad(a_t, b_v, Reduction::Mean, TensorView<T>{&mean, {}, {}},
                          TensorView<T>{g1.data(), {3, 2}, {}}, TensorView<T>{});
    const T one = T(1);
    cauchy::loss_backward(a_t, b_v, Reduction::Mean, TensorView<const T>{&one, {}, {}},
                          TensorView<T>{gb.data(), {3, 2}, {}}, TensorView<T>{});
    ok = g1 == gb && g2 == std::vector<T>(6, T(-7));
    double mean_want = 0;
    for (std::size_t i = 0; i < 3; i++) {
        for (std::size_t j = 0; j < 2; j++) {
            mean_want += loss_of(d(i, j)) / 6.0;
            ok = ok && close(g1[2 * i + j], grad_of(d(i, j)) / 6.0);
        }
    }
    check(ok && close(mean, mean_want),
          ty + " view loss_and_grad MEAN equals loss_backward, grad_img2 skipped");

    // In place: the output is an exact alias of img1.
    std::vector<T> x = {T(1), T(-1), T(2)}, y = {T(0), T(0), T(0)};
    TensorView<T> xv{x.data(), {3}, {}};
    cauchy::loss(xv, TensorView<const T>{y.data(), {3}, {}}, Reduction::None, xv);
    check(close(x[0], loss_of(1)) && close(x[1], loss_of(-1)) && close(x[2], loss_of(2)),
          ty + " view: in place");
}

template <typename T>
static void errors() {
    const std::string ty = type_name<T>();
    const std::vector<T> four(4, T(1)), three(3, T(1));
    expect_error(ty + " error: vector shape mismatch", CAUCHY_STATUS_SHAPE_MISMATCH,
                 "img2 shape [3] does not match img1 shape [4]",
                 [&] { cauchy::loss(four, three, Reduction::Sum); });
    expect_error(ty + " error: invalid reduction value", CAUCHY_STATUS_INVALID_REDUCTION, "",
                 [&] { cauchy::loss(four, four, static_cast<Reduction>(7)); });
    expect_error(ty + " error: Reduction::None where one value is returned",
                 CAUCHY_STATUS_INVALID_REDUCTION, "",
                 [&] { cauchy::loss_and_grad(four, four, Reduction::None); });
    expect_error(ty + " error: reduce NONE", CAUCHY_STATUS_INVALID_REDUCTION, "",
                 [&] { cauchy::reduce(four, Reduction::None); });
    expect_error(ty + " error: strides for another ndim", CAUCHY_STATUS_INVALID_SHAPE, "",
                 [&] {
                     cauchy::reduce(TensorView<const T>{four.data(), {2, 2}, {1}}, Reduction::Sum);
                 });
    expect_error(ty + " error: null img1", CAUCHY_STATUS_NULL_POINTER, "", [&] {
        cauchy::reduce(TensorView<const T>{nullptr, {4}, {}}, Reduction::Sum);
    });

    // An output overlapping itself (stride 0): OVERLAP, and nothing written.
    std::vector<T> out(4, T(-7));
    expect_error(ty + " error: output overlaps itself", CAUCHY_STATUS_OVERLAP, "", [&] {
        cauchy::loss(TensorView<const T>{four.data(), {4}, {}},
                     TensorView<const T>{four.data(), {4}, {}}, Reduction::None,
                     TensorView<T>{out.data(), {4}, {0}});
    });
    check(out == std::vector<T>(4, T(-7)), ty + " error: the output is left as it was");

    // Caught as std::runtime_error too.
    try {
        cauchy::loss(four, three);
        check(false, ty + " error: caught as std::runtime_error", "no exception");
    } catch (const std::runtime_error &e) {
        check(std::string(e.what()).rfind("CAUCHY_STATUS_SHAPE_MISMATCH: ", 0) == 0,
              ty + " error: caught as std::runtime_error", e.what());
    }
}

int main() {
    check(cauchy::version() == CAUCHY_VERSION_STRING, "version", cauchy::version());
    check(cauchy::num_threads() >= 1, "num_threads");
    contiguous<float>();
    contiguous<double>();
    strided<float>();
    strided<double>();
    errors<float>();
    errors<double>();
    expect_error("error: set_num_threads(5000)", CAUCHY_STATUS_INVALID_ARGUMENT, "",
                 [] { cauchy::set_num_threads(5000); });
    cauchy::set_num_threads(2);
    check(cauchy::num_threads() == 2, "set_num_threads(2)");
    cauchy::set_num_threads(0);
    std::printf("cpp_api: %d checks, %d failed\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
