/*
 * consumer.c -- a C program built against an installed libcauchy: tests/install.rs builds it
 * with pkg-config and with CMake (shared and static), as the README shows.
 *
 * It checks that the header and the library have one version, then computes the SUM loss of
 * a 2x2 pair with residuals d = 1, -1, 2, 0 and its gradient 2d / (d^2 + 2) in one call.
 * Prints "consumer ok <version>" and exits 0, or says what failed and exits 1.
 */
#include <stdio.h>

#include <cauchy.h>

static double absd(double v) {
    return v < 0.0 ? -v : v;
}

int main(void) {
    if (cauchy_version() != CAUCHY_VERSION_NUMBER) {
        fprintf(stderr, "consumer: header %s, library %s\n", CAUCHY_VERSION_STRING,
                cauchy_version_string());
        return 1;
    }
    const float img1[4] = {1.0f, -1.0f, 2.5f, 0.5f};
    const float img2[4] = {0.0f, 0.0f, 0.5f, 0.5f};
    const int64_t shape[2] = {2, 2};
    const CauchyTensorDesc desc = {2, shape, NULL};
    float sum = 0.0f, grad[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    CauchyStatus st = cauchy_loss_and_grad_f32(img1, &desc, img2, NULL, CAUCHY_REDUCTION_SUM,
                                               &sum, NULL, grad, NULL, NULL, NULL);
    if (st != CAUCHY_STATUS_OK) {
        fprintf(stderr, "consumer: %s: %s\n", cauchy_status_name(st), cauchy_last_error_message());
        return 1;
    }
    /* log(1.5) + log(1.5) + log(3) + log(1) = log(6.75) */
    const double want_sum = 1.9095425048844386;
    const double want_grad[4] = {2.0 / 3.0, -2.0 / 3.0, 2.0 / 3.0, 0.0};
    int bad = absd((double)sum - want_sum) > 1e-6 * want_sum;
    for (int i = 0; i < 4; i++) {
        bad |= absd((double)grad[i] - want_grad[i]) > 1e-6;
    }
    if (bad) {
        fprintf(stderr, "consumer: SUM %.9g (want %.9g), grad %.9g %.9g %.9g %.9g\n", (double)sum,
                want_sum, (double)grad[0], (double)grad[1], (double)grad[2], (double)grad[3]);
        return 1;
    }
    printf("consumer ok %s\n", cauchy_version_string());
    return 0;
}
