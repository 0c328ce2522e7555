/*
 * quickstart.c -- Kornia's CauchyLoss usage example, in C.
 *
 * The Python original (kornia.losses.CauchyLoss / cauchy_loss):
 *
 *     img1 = torch.randn(2, 3, 32, 32, requires_grad=True)
 *     img2 = torch.randn(2, 3, 32, 32)
 *     criterion = CauchyLoss(reduction="mean")
 *     output = criterion(img1, img2)
 *     output.backward()
 *     output = cauchy_loss(img1, img2, reduction="sum")
 *
 * This program does the same with libcauchy: the MEAN loss of two 2x3x32x32 float tensors,
 * its backward with upstream gradient 1.0f (what output.backward() does: img1.grad becomes
 * (1/numel) * 2d / (d^2 + 2) with d = img1 - img2), and the SUM loss. There is no torch.randn
 * in C, so the inputs come from a tiny documented generator (below) that gives the same
 * normal-ish numbers on every machine. Every call's status is checked; on failure the program
 * prints the status name and the library's message and exits with status 1.
 *
 * Build and run (from the repository root, after `cargo build --release`):
 *
 *     cc -std=c99 -O2 -Iinclude c_examples/quickstart.c -Ltarget/release -lcauchy \
 *        -Wl,-rpath,"$PWD/target/release" -o target/quickstart && ./target/quickstart
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "cauchy.h"

#define N 2
#define C 3
#define H 32
#define W 32
#define NUMEL (N * C * H * W)

/*
 * The generator: a 32-bit linear congruential generator (the constants of Numerical Recipes,
 * state = 1664525 * state + 1013904223 mod 2^32), whose top 24 bits give a uniform number
 * u in [0, 1) exactly. The sum of 12 such numbers minus 6 has mean 0 and variance 1 and is
 * close to a standard normal (the Irwin-Hall approximation). The sum is exact in double and
 * rounded once to float, so every machine produces the same inputs.
 */
static uint32_t rng_state;

static double uniform01(void) {
    rng_state = 1664525u * rng_state + 1013904223u;
    return (double)(rng_state >> 8) * (1.0 / 16777216.0);
}

static float normalish(void) {
    double s = 0.0;
    for (int i = 0; i < 12; i++) {
        s += uniform01();
    }
    return (float)(s - 6.0);
}

/* |v|, written out so that the program needs no -lm. */
static double absd(double v) {
    return v < 0.0 ? -v : v;
}

/* Report a failed call: the status name and this thread's last error message. */
static int failed(CauchyStatus status, const char *what) {
    if (status == CAUCHY_STATUS_OK) {
        return 0;
    }
    fprintf(stderr, "quickstart: %s failed with %s (%d): %s\n", what, cauchy_status_name(status),
            (int)status, cauchy_last_error_message());
    return 1;
}

static float img1[NUMEL], img2[NUMEL], grad_img1[NUMEL];

int main(void) {
    /* A header/library mismatch would make every call suspect: check it first. */
    if (cauchy_version() != CAUCHY_VERSION_NUMBER) {
        fprintf(stderr, "quickstart: header is %s but the library is %s\n", CAUCHY_VERSION_STRING,
                cauchy_version_string());
        return 1;
    }
    printf("libcauchy %s, %zu threads\n", cauchy_version_string(), cauchy_get_num_threads());

    /* img1 = randn(2, 3, 32, 32), img2 = randn(2, 3, 32, 32) */
    rng_state = 2024u;
    for (int i = 0; i < NUMEL; i++) {
        img1[i] = normalish();
    }
    for (int i = 0; i < NUMEL; i++) {
        img2[i] = normalish();
    }

    /* The shape descriptor: 4 dimensions, strides NULL = C-contiguous (PyTorch's default). */
    const int64_t shape[4] = {N, C, H, W};
    const CauchyTensorDesc desc = {4, shape, NULL};

    /*
     * criterion = CauchyLoss(reduction="mean"); output = criterion(img1, img2)
     * img2's descriptor and out's may be NULL: "img1's shape, C-contiguous" for img2, and
     * "one element" for a MEAN / SUM result.
     */
    float mean_loss = 0.0f;
    CauchyStatus st = cauchy_loss_f32(img1, &desc, img2, NULL, CAUCHY_REDUCTION_MEAN, &mean_loss,
                                      NULL);
    if (failed(st, "cauchy_loss_f32(MEAN)")) {
        return 1;
    }
    printf("mean loss:  %.9g\n", (double)mean_loss);

    /*
     * output.backward(): the upstream gradient of a scalar output is 1. With MEAN,
     * grad_img1 = 1 * (1/numel) * 2d / (d^2 + 2). img2 needs no gradient here (in Kornia's
     * example it does not require grad), so grad_img2 is NULL and is skipped.
     */
    const float grad_out = 1.0f;
    st = cauchy_loss_backward_f32(img1, &desc, img2, NULL, CAUCHY_REDUCTION_MEAN, &grad_out, NULL,
                                  grad_img1, NULL, NULL, NULL);
    if (failed(st, "cauchy_loss_backward_f32(MEAN)")) {
        return 1;
    }
    printf("img1.grad[0, 0, 0, 0:4]: %.9g %.9g %.9g %.9g\n", (double)grad_img1[0],
           (double)grad_img1[1], (double)grad_img1[2], (double)grad_img1[3]);

    /* The same first gradient by the textbook formula in double, rounded to float like the
       library's result, for comparison. */
    double d = (double)img1[0] - (double)img2[0];
    printf("by hand:                 %.9g\n", (double)(float)(2.0 * d / (d * d + 2.0) / NUMEL));

    /* output = cauchy_loss(img1, img2, reduction="sum") */
    float sum_loss = 0.0f;
    st = cauchy_loss_f32(img1, &desc, img2, NULL, CAUCHY_REDUCTION_SUM, &sum_loss, NULL);
    if (failed(st, "cauchy_loss_f32(SUM)")) {
        return 1;
    }
    printf("sum loss:   %.9g (numel %d, sum / numel %.9g)\n", (double)sum_loss, NUMEL,
           (double)sum_loss / NUMEL);

    /* Sanity checks, so that a broken build fails loudly instead of printing nonsense. */
    if (!(isfinite(mean_loss) && mean_loss > 0.0f && isfinite(sum_loss) &&
          absd((double)sum_loss / NUMEL - (double)mean_loss) <= 1e-6 * (double)mean_loss)) {
        fprintf(stderr, "quickstart: MEAN and SUM disagree\n");
        return 1;
    }
    if (absd((double)grad_img1[0] - 2.0 * d / (d * d + 2.0) / NUMEL) >
        1e-6 * absd((double)grad_img1[0])) {
        fprintf(stderr, "quickstart: the gradient differs from the formula\n");
        return 1;
    }
    printf("ok\n");
    return EXIT_SUCCESS;
}
