/*
 * strided.c -- tensors that are views, not contiguous copies.
 *
 * PyTorch tensors are often views: x.t(), x.flip(0), y.expand(...), and in-place results.
 * libcauchy reads such layouts directly through the strides of a CauchyTensorDesc, counted in
 * elements, any sign, so no copy is needed. This program shows four cases:
 *
 *   1. a transposed view         (strides swapped, like x.t())
 *   2. a flipped view            (a negative stride, like x.flip(0); the data pointer points
 *                                 at element [0, ..., 0] of the view, i.e. the LAST element
 *                                 in memory)
 *   3. an expanded target        (stride 0 repeats a row, like y.expand(3, 4); inputs only)
 *   4. in place                  (out is the same pointer and layout as img1: img1 is
 *                                 overwritten with the loss, like an in-place op)
 *
 * Each result is printed and compared with a plain call on contiguous, separate buffers; the element
 * math does not depend on the layout, so they must be equal bit for bit. Exits 0 when all
 * four agree, 1 otherwise.
 *
 * Build and run (from the repository root, after `cargo build --release`):
 *
 *     cc -std=c99 -O2 -Iinclude c_examples/strided.c -Ltarget/release -lcauchy \
 *        -Wl,-rpath,"$PWD/target/release" -o target/strided && ./target/strided
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cauchy.h"

static int failures = 0;

/* Stop on a failed call: print the status name and the library's message. */
static int ok(CauchyStatus status, const char *what) {
    if (status != CAUCHY_STATUS_OK) {
        fprintf(stderr, "strided: %s failed with %s: %s\n", what, cauchy_status_name(status),
                cauchy_last_error_message());
        failures++;
        return 0;
    }
    return 1;
}

static void print_matrix(const char *title, const float *m, int rows, int cols) {
    printf("%s\n", title);
    for (int r = 0; r < rows; r++) {
        printf("   ");
        for (int c = 0; c < cols; c++) {
            printf(" %10.6f", (double)m[r * cols + c]);
        }
        printf("\n");
    }
}

/* Compare a view's result with the contiguous result, bit for bit. */
static void expect_same(const char *what, const float *got, const float *want, int n) {
    if (memcmp(got, want, (size_t)n * sizeof(float)) != 0) {
        fprintf(stderr, "strided: %s differs from the contiguous computation\n", what);
        failures++;
    } else {
        printf("    = the contiguous result, bit for bit\n");
    }
}

int main(void) {
    /* ---- 1. A transposed view ---------------------------------------------------------
     * a is a 3x4 matrix stored row-major: a[r][c] is at a[r * 4 + c]. Its transpose a.t() is
     * a 4x3 view of the same memory: element [i][j] of the view is a[j][i], at offset
     * i * 1 + j * 4, so the view has shape {4, 3} and strides {1, 4}. */
    const float a[12] = {0.0f, 1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f, 7.0f, 8.0f, 9.0f, 10.0f, 11.0f};
    /* b holds the same numbers, read as a contiguous 4x3 matrix: without the transpose every
     * loss below would be 0; with it, d[i][j] = a[j][i] - b[i][j] = 3j - 2i. */
    const float *b = a;
    {
        const int64_t shape_t[2] = {4, 3};
        const int64_t strides_t[2] = {1, 4};
        const CauchyTensorDesc at_desc = {2, shape_t, strides_t}; /* a.t() */
        const CauchyTensorDesc b_desc = {2, shape_t, NULL};       /* b: 4x3, contiguous */
        float out[12], at_copy[12], want[12];
        if (ok(cauchy_loss_f32(a, &at_desc, b, &b_desc, CAUCHY_REDUCTION_NONE, out, NULL),
               "transposed loss")) {
            print_matrix("1. loss(a.t(), b), a.t() read through strides {1, 4}:", out, 4, 3);
            for (int i = 0; i < 4; i++) {
                for (int j = 0; j < 3; j++) {
                    at_copy[i * 3 + j] = a[j * 4 + i];
                }
            }
            if (ok(cauchy_loss_f32(at_copy, &b_desc, b, &b_desc, CAUCHY_REDUCTION_NONE, want,
                                   NULL),
                   "contiguous loss")) {
                expect_same("the transposed view", out, want, 12);
            }
        }
    }

    /* ---- 2. A flipped view (negative stride) -----------------------------------------
     * x.flip(0) of an 8-element vector x: element [i] of the view is x[7 - i]. The data
     * pointer passed to the library is the address of the view's element [0], which is
     * &x[7], and the stride is -1. (The library reads x[7], x[6], ..., x[0]; it never reads
     * before x or past x[7].) The gradient is computed through the same view. */
    {
        const float x[8] = {-3.0f, -2.0f, -1.0f, -0.5f, 0.0f, 0.5f, 1.0f, 100.0f};
        const float y[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
        const int64_t shape[1] = {8};
        const int64_t stride_flip[1] = {-1};
        const CauchyTensorDesc flip_desc = {1, shape, stride_flip};
        const CauchyTensorDesc vec_desc = {1, shape, NULL};
        float out[8], grad[8], x_flipped[8], want[8], want_grad[8];
        const float one = 1.0f;
        if (ok(cauchy_loss_f32(&x[7], &flip_desc, y, &vec_desc, CAUCHY_REDUCTION_NONE, out, NULL),
               "flipped loss") &&
            ok(cauchy_loss_backward_f32(&x[7], &flip_desc, y, &vec_desc, CAUCHY_REDUCTION_SUM,
                                        &one, NULL, grad, NULL, NULL, NULL),
               "flipped backward")) {
            print_matrix("2. loss(x.flip(0), 0), data pointer &x[7], stride -1:", out, 1, 8);
            print_matrix("   its gradient (SUM, upstream 1):", grad, 1, 8);
            for (int i = 0; i < 8; i++) {
                x_flipped[i] = x[7 - i];
            }
            if (ok(cauchy_loss_f32(x_flipped, &vec_desc, y, &vec_desc, CAUCHY_REDUCTION_NONE,
                                   want, NULL),
                   "contiguous loss") &&
                ok(cauchy_loss_backward_f32(x_flipped, &vec_desc, y, &vec_desc,
                                            CAUCHY_REDUCTION_SUM, &one, NULL, want_grad, NULL,
                                            NULL, NULL),
                   "contiguous backward")) {
                expect_same("the flipped view", out, want, 8);
                expect_same("the flipped view's gradient", grad, want_grad, 8);
            }
        }
    }

    /* ---- 3. An expanded target (stride 0) ---------------------------------------------
     * There is no implicit broadcasting: every operand has img1's shape. A target that is one
     * row repeated for every row of a 3x4 prediction is described as shape {3, 4} with
     * strides {0, 1}, like y.expand(3, 4) in PyTorch: the same 4 floats are read for each row.
     * Stride 0 is for inputs only; an output with stride 0 would overlap itself. */
    {
        const float row[4] = {0.0f, 1.0f, 2.0f, 3.0f};
        const int64_t shape[2] = {3, 4};
        const int64_t strides_expand[2] = {0, 1};
        const CauchyTensorDesc pred_desc = {2, shape, NULL};
        const CauchyTensorDesc expand_desc = {2, shape, strides_expand};
        float out[12], row_copies[12], want[12];
        float mean = 0.0f;
        if (ok(cauchy_loss_f32(a, &pred_desc, row, &expand_desc, CAUCHY_REDUCTION_NONE, out,
                               NULL),
               "expanded loss") &&
            ok(cauchy_loss_f32(a, &pred_desc, row, &expand_desc, CAUCHY_REDUCTION_MEAN, &mean,
                               NULL),
               "expanded mean")) {
            print_matrix("3. loss(a, row.expand(3, 4)), row read through strides {0, 1}:", out,
                         3, 4);
            printf("    mean %.9g\n", (double)mean);
            for (int i = 0; i < 12; i++) {
                row_copies[i] = row[i % 4];
            }
            if (ok(cauchy_loss_f32(a, &pred_desc, row_copies, &pred_desc, CAUCHY_REDUCTION_NONE,
                                   want, NULL),
                   "contiguous loss")) {
                expect_same("the expanded target", out, want, 12);
            }
        }
    }

    /* ---- 4. In place --------------------------------------------------------------------
     * out may be an exact alias of an input: the same pointer with the same layout. Here the
     * loss overwrites img1. (out_desc NULL means "img1's shape, C-contiguous", which is
     * img1's own layout.) An output that overlaps an input in any other way is rejected with
     * CAUCHY_STATUS_OVERLAP before anything is written; see errors.c. */
    {
        const float target[12] = {1.0f, 1.0f, 1.0f, 1.0f, 4.0f, 4.0f,
                                  4.0f, 4.0f, 9.0f, 9.0f, 9.0f, 9.0f};
        float buf[12];
        float want[12];
        const int64_t shape[2] = {3, 4};
        const CauchyTensorDesc desc = {2, shape, NULL};
        memcpy(buf, a, sizeof buf);
        if (ok(cauchy_loss_f32(a, &desc, target, &desc, CAUCHY_REDUCTION_NONE, want, NULL),
               "out-of-place loss") &&
            ok(cauchy_loss_f32(buf, &desc, target, &desc, CAUCHY_REDUCTION_NONE, buf, &desc),
               "in-place loss")) {
            print_matrix("4. buf = loss(buf, target) in place (out == img1):", buf, 3, 4);
            expect_same("the in-place result", buf, want, 12);
        }
    }

    if (failures != 0) {
        fprintf(stderr, "strided: %d failure(s)\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
