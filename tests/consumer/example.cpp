#include <cauchy.hpp>

#include <cstdio>
#include <vector>

int main() {
    std::vector<float> pred = {1.0f, -1.0f, 2.5f, 0.5f}, target = {0.0f, 0.0f, 0.5f, 0.5f};

    // The element-wise loss, and the MEAN loss with its gradient in one pass.
    std::vector<float> losses = cauchy::loss(pred, target);
    auto [mean, grad] = cauchy::loss_and_grad(pred, target, cauchy::Reduction::Mean);
    std::printf("loss[0] %.6f, mean %.6f, grad[0] %.6f\n", losses[0], mean, grad[0]);

    // Strided views: pred as a 2x2 matrix read transposed (strides {1, 2}), target as stored.
    cauchy::TensorView<const float> pred_t{pred.data(), {2, 2}, {1, 2}};
    cauchy::TensorView<const float> target_m{target.data(), {2, 2}, {}};
    float sum = 0.0f;
    cauchy::loss(pred_t, target_m, cauchy::Reduction::Sum, cauchy::TensorView<float>{&sum, {}, {}});
    std::printf("sum over the transposed view %.6f\n", sum);

    // Doubles work the same; a failed call throws cauchy::Error with the status and message.
    try {
        cauchy::loss(std::vector<double>{1.0, 2.0}, std::vector<double>(3), cauchy::Reduction::Sum);
    } catch (const cauchy::Error &e) {
        std::printf("%s\n", e.what());
        return e.status() == CAUCHY_STATUS_SHAPE_MISMATCH ? 0 : 1;
    }
    return 1;
}
