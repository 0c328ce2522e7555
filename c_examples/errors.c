/*
 * errors.c -- what a failed call returns and says.
 *
 * Every fallible libcauchy function returns a CauchyStatus (an int32_t): CAUCHY_STATUS_OK (0)
 * on success, a non-zero status on failure. cauchy_status_name() names a status, and
 * cauchy_last_error_message() explains the calling thread's last failure, naming the argument
 * and the values involved. Statuses 1 to 6 are found before anything is written, so every
 * output is left exactly as it was.
 *
 * This program makes failing calls on purpose -- a shape mismatch, a negative size, a bad
 * reduction, an output that overlaps an input, another output or itself, NULL pointers, a bad
 * thread count -- prints what each returns and says, and checks that the outputs still hold
 * their previous contents. It exits 0 when every call behaved as documented, 1 otherwise.
 *
 * Build and run (from the repository root, after `cargo build --release`):
 *
 *     cc -std=c99 -O2 -Iinclude c_examples/errors.c -Ltarget/release -lcauchy \
 *        -Wl,-rpath,"$PWD/target/release" -o target/errors && ./target/errors
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cauchy.h"

#define SENTINEL (-7.25f) /* what the outputs hold before each call */

static int problems = 0;

static void fill(float *p, int n) {
    for (int i = 0; i < n; i++) {
        p[i] = SENTINEL;
    }
}

static int untouched(const float *p, int n) {
    for (int i = 0; i < n; i++) {
        if (p[i] != SENTINEL) {
            return 0;
        }
    }
    return 1;
}

/*
 * Check one failed call: the status it returned must be `want`, the message must mention
 * `needle` (the argument at fault), and the output buffer must be as it was.
 */
static void expect(const char *what, CauchyStatus got, CauchyStatus want, const char *needle,
                   const float *out, int n) {
    const char *message = cauchy_last_error_message();
    printf("%s\n    -> %s: %s\n", what, cauchy_status_name(got), message);
    if (got != want) {
        printf("    UNEXPECTED: wanted %s\n", cauchy_status_name(want));
        problems++;
        return;
    }
    if (strstr(message, needle) == NULL) {
        printf("    UNEXPECTED: the message does not mention \"%s\"\n", needle);
        problems++;
    }
    if (out != NULL && !untouched(out, n)) {
        printf("    UNEXPECTED: an output was written\n");
        problems++;
    } else if (out != NULL) {
        printf("    output untouched\n");
    }
}

int main(void) {
    /* img1 is the first 24 floats of a 25-float buffer, so that case 3 below can describe a
     * shifted output that still lies inside memory this program owns. */
    float img1[25], img2[30], out[24], grad[24];
    for (int i = 0; i < 25; i++) {
        img1[i] = (float)i;
    }
    for (int i = 0; i < 30; i++) {
        img2[i] = (float)(i % 7);
    }
    const int64_t shape[3] = {2, 3, 4};
    const int64_t other_shape[3] = {2, 3, 5};
    const CauchyTensorDesc desc = {3, shape, NULL};
    const CauchyTensorDesc other_desc = {3, other_shape, NULL};
    CauchyStatus st;

    /* Before any failure the message is empty. */
    printf("message before any failure: \"%s\"\n", cauchy_last_error_message());
    if (cauchy_last_error_message()[0] != '\0') {
        problems++;
    }

    /* 1. Shape mismatch: img2 is [2, 3, 5], img1 is [2, 3, 4]. There is no broadcasting. */
    fill(out, 24);
    st = cauchy_loss_f32(img1, &desc, img2, &other_desc, CAUCHY_REDUCTION_NONE, out, NULL);
    expect("1. loss of a [2, 3, 4] and a [2, 3, 5] tensor", st, CAUCHY_STATUS_SHAPE_MISMATCH,
           "img2", out, 24);

    /* 1b. A negative size is an invalid shape, whatever the other operands are. */
    {
        const int64_t negative[3] = {2, -3, 4};
        const CauchyTensorDesc bad_desc = {3, negative, NULL};
        fill(out, 24);
        st = cauchy_loss_f32(img1, &bad_desc, img2, NULL, CAUCHY_REDUCTION_NONE, out, NULL);
        expect("1b. img1 with shape [2, -3, 4]", st, CAUCHY_STATUS_INVALID_SHAPE, "img1", out, 24);
    }

    /* 2. A reduction that is not 0, 1 or 2 (ATen's None, Mean, Sum). */
    fill(out, 24);
    st = cauchy_loss_f32(img1, &desc, img2, NULL, 3, out, NULL);
    expect("2. reduction 3", st, CAUCHY_STATUS_INVALID_REDUCTION, "reduction", out, 24);

    /* 2b. cauchy_reduce_* computes MEAN or SUM; NONE makes no sense there. */
    fill(out, 1);
    st = cauchy_reduce_f32(img1, &desc, CAUCHY_REDUCTION_NONE, out);
    expect("2b. cauchy_reduce_f32 with CAUCHY_REDUCTION_NONE", st,
           CAUCHY_STATUS_INVALID_REDUCTION, "reduction", out, 1);

    /* 3. An output that overlaps an input without being an exact alias: out starts one
     * element into img1. Writing it would destroy inputs still to be read, so it is refused
     * (out == img1 with the same layout is allowed: that is in place, see strided.c). */
    for (int i = 0; i < 24; i++) {
        grad[i] = img1[i]; /* a copy of img1, to check that it is unchanged */
    }
    st = cauchy_loss_f32(img1, &desc, img2, NULL, CAUCHY_REDUCTION_NONE, img1 + 1, NULL);
    expect("3. out = img1 + 1 (a shifted alias)", st, CAUCHY_STATUS_OVERLAP, "out", NULL, 0);
    if (memcmp(grad, img1, sizeof grad) != 0) {
        printf("    UNEXPECTED: img1 was written\n");
        problems++;
    } else {
        printf("    img1 untouched\n");
    }

    /* 3b. An output that overlaps itself: stride 0 would write many elements to one place. */
    {
        const int64_t strides_zero[3] = {0, 4, 1};
        const CauchyTensorDesc self_overlapping = {3, shape, strides_zero};
        fill(out, 24);
        st = cauchy_loss_f32(img1, &desc, img2, NULL, CAUCHY_REDUCTION_NONE, out,
                             &self_overlapping);
        expect("3b. out with strides {0, 4, 1}", st, CAUCHY_STATUS_OVERLAP, "out", out, 24);
    }

    /* 3c. Two outputs of one call that overlap: grad_img1 and grad_img2 in one buffer. */
    {
        const float one = 1.0f;
        fill(grad, 24);
        st = cauchy_loss_backward_f32(img1, &desc, img2, NULL, CAUCHY_REDUCTION_SUM, &one, NULL,
                                      grad, NULL, grad, NULL);
        expect("3c. backward with grad_img1 == grad_img2", st, CAUCHY_STATUS_OVERLAP, "grad_img",
               grad, 24);
    }

    /* 4. NULL where a pointer is required: a data pointer of a non-empty tensor, and img1's
     * descriptor (the only descriptor that may never be NULL). */
    fill(out, 24);
    st = cauchy_loss_f32(img1, &desc, NULL, NULL, CAUCHY_REDUCTION_NONE, out, NULL);
    expect("4. img2 = NULL", st, CAUCHY_STATUS_NULL_POINTER, "img2", out, 24);
    fill(out, 1);
    st = cauchy_loss_f32(img1, NULL, img2, NULL, CAUCHY_REDUCTION_MEAN, out, NULL);
    expect("4b. img1_desc = NULL", st, CAUCHY_STATUS_NULL_POINTER, "img1", out, 1);

    /* 5. A thread count out of range (0 = the default, at most 4096). */
    st = cauchy_set_num_threads(5000);
    expect("5. cauchy_set_num_threads(5000)", st, CAUCHY_STATUS_INVALID_ARGUMENT, "5000", NULL, 0);

    /* 6. A successful call leaves the last message as it was: only check it after a failure. */
    st = cauchy_loss_f32(img1, &desc, img2, NULL, CAUCHY_REDUCTION_NONE, out, NULL);
    printf("6. a valid call -> %s; the message still says: %s\n", cauchy_status_name(st),
           cauchy_last_error_message());
    if (st != CAUCHY_STATUS_OK) {
        problems++;
    }

    /* 7. Statuses this version does not know have a name too; treat them as failures. */
    printf("7. cauchy_status_name(99) = %s\n", cauchy_status_name(99));
    if (strcmp(cauchy_status_name(99), "CAUCHY_STATUS_UNKNOWN") != 0) {
        problems++;
    }

    if (problems != 0) {
        printf("%d thing(s) did not behave as documented\n", problems);
        return 1;
    }
    printf("ok: every failure behaved as documented\n");
    return 0;
}
