/* Provokes every status of API.md from C, for float and double and for every function where
 * it applies, and checks what a rejected call must guarantee: the expected status and its
 * name, a message naming the offending argument, and every buffer (outputs pre-filled with a
 * sentinel) left bit for bit as it was. Then the allowed corner cases, which must succeed.
 *
 * Prints one line per check ("ok ..." or "FAIL ..."), then "checks N failures F"; exits
 * non-zero on any failure. tests/c_api.rs runs it and checks the count. */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "calls.h"

#define L (1u << LOSS)
#define B (1u << BACKWARD)
#define F (1u << FUSED)
#define R (1u << REDUCE)
#define LBF (L | B | F)

static const char *const STATUS_NAMES[] = {
    "CAUCHY_STATUS_OK",          "CAUCHY_STATUS_NULL_POINTER",      "CAUCHY_STATUS_SHAPE_MISMATCH",
    "CAUCHY_STATUS_INVALID_SHAPE", "CAUCHY_STATUS_INVALID_REDUCTION", "CAUCHY_STATUS_OVERLAP",
    "CAUCHY_STATUS_INVALID_ARGUMENT", "CAUCHY_STATUS_INTERNAL",
};

/* Every buffer a call may touch; `pristine` is what they hold before each call. Inputs hold
 * small numbers, outputs the sentinel byte 0xA5. Doubles keep every buffer aligned for both
 * types, with room for the shifted pointers of the overlap cases. */
typedef struct {
    double img1[64], img2[64], grad_out[64], out[64], grad_img1[64], grad_img2[64];
} Memory;
static Memory mem, pristine;

static int checks, failures;

static void check(int ok, const char *what, const char *detail) {
    checks++;
    failures += !ok;
    printf("%s %s%s%s\n", ok ? "ok" : "FAIL", what, detail ? ": " : "", detail ? detail : "");
}

/* Fill `pristine` for calls of one type. */
static void prepare(int f64) {
    int i;
    memset(&pristine, 0, sizeof pristine);
    memset(pristine.out, 0xA5, sizeof pristine.out);
    memset(pristine.grad_img1, 0xA5, sizeof pristine.grad_img1);
    memset(pristine.grad_img2, 0xA5, sizeof pristine.grad_img2);
    for (i = 0; i < 64; i++) {
        double x = 0.5 + 0.25 * i, y = 0.125 * i - 1.0, g = 1.0 + 0.5 * i;
        if (f64) {
            pristine.img1[i] = x;
            pristine.img2[i] = y;
            pristine.grad_out[i] = g;
        } else {
            ((float *)pristine.img1)[i] = (float)x;
            ((float *)pristine.img2)[i] = (float)y;
            ((float *)pristine.grad_out)[i] = (float)g;
        }
    }
}

/* The [2, 3, 4] tensors every case starts from. */
static const int64_t SHAPE[3] = {2, 3, 4};
static const CauchyTensorDesc DESC = {3, SHAPE, NULL};

/* A valid call: contiguous [2, 3, 4] operands, optional descriptors NULL, reduction NONE. */
static Args valid(void) {
    Args a;
    a.img1 = mem.img1;
    a.img1_desc = &DESC;
    a.img2 = mem.img2;
    a.img2_desc = NULL;
    a.reduction = CAUCHY_REDUCTION_NONE;
    a.grad_out = mem.grad_out;
    a.grad_out_desc = NULL;
    a.out = mem.out;
    a.out_desc = NULL;
    a.grad_img1 = mem.grad_img1;
    a.grad_img1_desc = NULL;
    a.grad_img2 = mem.grad_img2;
    a.grad_img2_desc = NULL;
    return a;
}

/* A valid cauchy_reduce call: x = img1, SUM. */
static Args valid_reduce(void) {
    Args a = valid();
    a.reduction = CAUCHY_REDUCTION_SUM;
    return a;
}

/* Run `fn` on freshly reset buffers; returns its status. */
static CauchyStatus reset_and_call(enum Fn fn, int f64, const Args *a) {
    memcpy(&mem, &pristine, sizeof mem);
    /* A known unrelated message first, so a stale one cannot pass for the call's own. */
    cauchy_set_num_threads(999999);
    return call(fn, f64, a);
}

/* For each function in `fns`: expect status `want`, nothing written, and a message that
 * contains `frag` (and `frag2` unless NULL). */
static void expect(unsigned fns, int f64, const Args *a, CauchyStatus want, const char *frag,
                   const char *frag2) {
    int fn;
    for (fn = 0; fn < FN_COUNT; fn++) {
        char what[160], detail[600];
        CauchyStatus got;
        const char *msg;
        int ok;
        if (!(fns & (1u << fn))) continue;
        got = reset_and_call((enum Fn)fn, f64, a);
        msg = cauchy_last_error_message();
        ok = got == want && strcmp(cauchy_status_name(got), STATUS_NAMES[want]) == 0 &&
             strstr(msg, frag) != NULL && (frag2 == NULL || strstr(msg, frag2) != NULL) &&
             memcmp(&mem, &pristine, sizeof mem) == 0;
        snprintf(what, sizeof what, "%s %s: %s, \"%s\"", f64 ? "f64" : "f32", FN_NAMES[fn],
                 STATUS_NAMES[want], frag);
        snprintf(detail, sizeof detail, "%s \"%s\"%s", cauchy_status_name(got), msg,
                 memcmp(&mem, &pristine, sizeof mem) == 0 ? "" : " (buffers changed)");
        check(ok, what, detail);
    }
}

/* Expect `fn` to succeed; with `untouched`, also that it wrote nothing. */
static void expect_ok(enum Fn fn, int f64, const Args *a, const char *what, int untouched) {
    char label[160];
    CauchyStatus got = reset_and_call(fn, f64, a);
    snprintf(label, sizeof label, "%s %s: %s", f64 ? "f64" : "f32", FN_NAMES[fn], what);
    check(got == CAUCHY_STATUS_OK && (!untouched || memcmp(&mem, &pristine, sizeof mem) == 0),
          label, cauchy_status_name(got));
}

/* mem.out[0] read as the call's type. */
static double out0(int f64) { return f64 ? mem.out[0] : ((float *)mem.out)[0]; }

static void null_pointers(int f64) {
    static const CauchyTensorDesc NO_SHAPE = {3, NULL, NULL};
    Args a;
    a = valid(), a.img1 = NULL;
    expect(LBF, f64, &a, CAUCHY_STATUS_NULL_POINTER, "img1 is NULL", NULL);
    a = valid(), a.img2 = NULL;
    expect(LBF, f64, &a, CAUCHY_STATUS_NULL_POINTER, "img2 is NULL", NULL);
    a = valid(), a.out = NULL;
    expect(L | F, f64, &a, CAUCHY_STATUS_NULL_POINTER, "out is NULL", NULL);
    a.reduction = CAUCHY_REDUCTION_MEAN;
    expect(L | F, f64, &a, CAUCHY_STATUS_NULL_POINTER, "out is NULL", NULL);
    a = valid(), a.grad_out = NULL;
    expect(B, f64, &a, CAUCHY_STATUS_NULL_POINTER, "grad_out is NULL", NULL);
    a.reduction = CAUCHY_REDUCTION_SUM;
    expect(B, f64, &a, CAUCHY_STATUS_NULL_POINTER, "grad_out is NULL", NULL);
    a = valid(), a.img1_desc = NULL;
    expect(LBF, f64, &a, CAUCHY_STATUS_NULL_POINTER, "img1_desc is NULL", NULL);
    /* shape NULL with ndim > 0, for every descriptor. */
    a = valid(), a.img1_desc = &NO_SHAPE;
    expect(LBF, f64, &a, CAUCHY_STATUS_NULL_POINTER, "img1_desc is NULL", "shape");
    a = valid(), a.img2_desc = &NO_SHAPE;
    expect(LBF, f64, &a, CAUCHY_STATUS_NULL_POINTER, "img2_desc is NULL", "shape");
    a = valid(), a.grad_out_desc = &NO_SHAPE;
    expect(B, f64, &a, CAUCHY_STATUS_NULL_POINTER, "grad_out_desc is NULL", "shape");
    a = valid(), a.out_desc = &NO_SHAPE;
    expect(L | F, f64, &a, CAUCHY_STATUS_NULL_POINTER, "out_desc is NULL", "shape");
    a = valid(), a.grad_img1_desc = &NO_SHAPE;
    expect(B | F, f64, &a, CAUCHY_STATUS_NULL_POINTER, "grad_img1_desc is NULL", "shape");
    a = valid(), a.grad_img2_desc = &NO_SHAPE;
    expect(B | F, f64, &a, CAUCHY_STATUS_NULL_POINTER, "grad_img2_desc is NULL", "shape");

    a = valid_reduce(), a.img1 = NULL;
    expect(R, f64, &a, CAUCHY_STATUS_NULL_POINTER, "x is NULL", NULL);
    a = valid_reduce(), a.img1_desc = NULL;
    expect(R, f64, &a, CAUCHY_STATUS_NULL_POINTER, "x_desc is NULL", NULL);
    a = valid_reduce(), a.img1_desc = &NO_SHAPE;
    expect(R, f64, &a, CAUCHY_STATUS_NULL_POINTER, "x_desc is NULL", "shape");
    a = valid_reduce(), a.out = NULL;
    expect(R, f64, &a, CAUCHY_STATUS_NULL_POINTER, "out is NULL", NULL);
}

static void invalid_shapes(int f64) {
    static int64_t ones[65];
    static const int64_t NEGATIVE[3] = {2, -3, 4};
    static const int64_t HUGE[2] = {(int64_t)1 << 40, (int64_t)1 << 40};
    static const int64_t HUGE_STRIDE[3] = {(int64_t)1 << 62, 4, 1};
    static const int64_t HUGE_CONTIGUOUS[1] = {(int64_t)1 << 62};
    const CauchyTensorDesc too_many = {65, ones, NULL};
    const CauchyTensorDesc negative = {3, NEGATIVE, NULL};
    const CauchyTensorDesc numel = {2, HUGE, NULL};
    const CauchyTensorDesc extent = {3, SHAPE, HUGE_STRIDE};
    const CauchyTensorDesc contiguous_extent = {1, HUGE_CONTIGUOUS, NULL};
    Args a;
    int i;
    for (i = 0; i < 65; i++) ones[i] = 1;
    a = valid(), a.img1_desc = &too_many;
    expect(LBF, f64, &a, CAUCHY_STATUS_INVALID_SHAPE, "img1_desc has ndim 65", NULL);
    a = valid(), a.img2_desc = &too_many;
    expect(LBF, f64, &a, CAUCHY_STATUS_INVALID_SHAPE, "img2_desc has ndim 65", NULL);
    a = valid(), a.img1_desc = &negative;
    expect(LBF, f64, &a, CAUCHY_STATUS_INVALID_SHAPE, "img1_desc has negative size -3", NULL);
    a = valid(), a.grad_img1_desc = &negative;
    expect(B | F, f64, &a, CAUCHY_STATUS_INVALID_SHAPE, "grad_img1_desc has negative size", NULL);
    a = valid(), a.img1_desc = &numel;
    expect(LBF, f64, &a, CAUCHY_STATUS_INVALID_SHAPE,
           "img1_desc shape [1099511627776, 1099511627776]", NULL);
    a = valid(), a.out_desc = &numel;
    expect(L | F, f64, &a, CAUCHY_STATUS_INVALID_SHAPE, "out_desc shape [1099511627776", NULL);
    a = valid(), a.img1_desc = &extent;
    expect(LBF, f64, &a, CAUCHY_STATUS_INVALID_SHAPE, "img1_desc (shape [2, 3, 4]",
           "4611686018427387904");
    a = valid(), a.grad_out_desc = &extent;
    expect(B, f64, &a, CAUCHY_STATUS_INVALID_SHAPE, "grad_out_desc (shape", NULL);
    /* 2^62 contiguous elements: 2^64 bytes or more. Only a validating call (both gradients
     * NULL), so that a library missing this check returns OK instead of running off. */
    a = valid(), a.img1_desc = &contiguous_extent;
    a.grad_img1 = a.grad_img2 = NULL;
    expect(B, f64, &a, CAUCHY_STATUS_INVALID_SHAPE, "img1_desc", NULL);

    a = valid_reduce(), a.img1_desc = &too_many;
    expect(R, f64, &a, CAUCHY_STATUS_INVALID_SHAPE, "x_desc has ndim 65", NULL);
    a = valid_reduce(), a.img1_desc = &negative;
    expect(R, f64, &a, CAUCHY_STATUS_INVALID_SHAPE, "x_desc has negative size -3", NULL);
    a = valid_reduce(), a.img1_desc = &numel;
    expect(R, f64, &a, CAUCHY_STATUS_INVALID_SHAPE, "x_desc shape [1099511627776", NULL);
    a = valid_reduce(), a.img1_desc = &extent;
    expect(R, f64, &a, CAUCHY_STATUS_INVALID_SHAPE, "x_desc (shape [2, 3, 4]", NULL);
}

static void invalid_reductions(int f64) {
    static const int32_t BAD[3] = {-1, 3, 1000};
    Args a;
    int i;
    for (i = 0; i < 3; i++) {
        char frag[32];
        snprintf(frag, sizeof frag, "reduction %d ", (int)BAD[i]);
        a = valid(), a.reduction = BAD[i];
        expect(LBF | R, f64, &a, CAUCHY_STATUS_INVALID_REDUCTION, frag, NULL);
    }
    a = valid(), a.reduction = CAUCHY_REDUCTION_NONE;
    expect(R, f64, &a, CAUCHY_STATUS_INVALID_REDUCTION, "reduction 0 ", "not allowed");
}

static void shape_mismatches(int f64) {
    static const int64_t OTHER[3] = {2, 3, 5};
    static const int64_t FLAT[1] = {24};
    static const int64_t TWO[1] = {2};
    const CauchyTensorDesc other = {3, OTHER, NULL};
    const CauchyTensorDesc flat = {1, FLAT, NULL};
    const CauchyTensorDesc two = {1, TWO, NULL};
    Args a;
    a = valid(), a.img2_desc = &other;
    expect(LBF, f64, &a, CAUCHY_STATUS_SHAPE_MISMATCH, "img2 shape [2, 3, 5]", "[2, 3, 4]");
    a = valid(), a.img2_desc = &flat;
    expect(LBF, f64, &a, CAUCHY_STATUS_SHAPE_MISMATCH, "img2 shape [24]", "[2, 3, 4]");
    a = valid(), a.out_desc = &other;
    expect(L | F, f64, &a, CAUCHY_STATUS_SHAPE_MISMATCH, "out shape [2, 3, 5]", "[2, 3, 4]");
    a = valid(), a.grad_out_desc = &other;
    expect(B, f64, &a, CAUCHY_STATUS_SHAPE_MISMATCH, "grad_out shape [2, 3, 5]", "[2, 3, 4]");
    a = valid(), a.grad_img1_desc = &other;
    expect(B | F, f64, &a, CAUCHY_STATUS_SHAPE_MISMATCH, "grad_img1 shape [2, 3, 5]", "[2, 3, 4]");
    a = valid(), a.grad_img2_desc = &other;
    expect(B | F, f64, &a, CAUCHY_STATUS_SHAPE_MISMATCH, "grad_img2 shape [2, 3, 5]", "[2, 3, 4]");
    /* MEAN / SUM: a one-element out / grad_out. */
    a = valid(), a.reduction = CAUCHY_REDUCTION_MEAN, a.out_desc = &two;
    expect(L | F, f64, &a, CAUCHY_STATUS_SHAPE_MISMATCH, "out must hold exactly one", "[2]");
    a = valid(), a.reduction = CAUCHY_REDUCTION_SUM, a.grad_out_desc = &DESC;
    expect(B, f64, &a, CAUCHY_STATUS_SHAPE_MISMATCH, "grad_out must hold exactly one",
           "[2, 3, 4]");
}

static void overlaps(int f64) {
    static const int64_t STRIDE0[3] = {0, 4, 1};
    static const int64_t INTERLEAVED[3] = {12, 4, 2};
    static const int64_t TRANSPOSED[3] = {1, 2, 6};
    const CauchyTensorDesc stride0 = {3, SHAPE, STRIDE0};
    const CauchyTensorDesc interleaved = {3, SHAPE, INTERLEAVED};
    const CauchyTensorDesc transposed = {3, SHAPE, TRANSPOSED};
    Args a;
    a = valid(), a.out_desc = &stride0;
    expect(L | F, f64, &a, CAUCHY_STATUS_OVERLAP, "out (shape [2, 3, 4], strides [0, 4, 1])",
           "overlaps itself");
    a = valid(), a.grad_img1_desc = &interleaved;
    expect(B | F, f64, &a, CAUCHY_STATUS_OVERLAP, "grad_img1 (shape", "overlaps itself");
    a = valid(), a.out = elem_at(mem.img1, f64, 1);
    expect(L | F, f64, &a, CAUCHY_STATUS_OVERLAP, "out overlaps img1", NULL);
    /* The same pointer, but not the same layout: not an exact alias. */
    a = valid(), a.out = mem.img1, a.out_desc = &transposed;
    expect(L | F, f64, &a, CAUCHY_STATUS_OVERLAP, "out overlaps img1", NULL);
    a = valid(), a.grad_img1 = elem_at(mem.img2, f64, 3);
    expect(B | F, f64, &a, CAUCHY_STATUS_OVERLAP, "grad_img1 overlaps img2", NULL);
    a = valid(), a.grad_img2 = elem_at(mem.grad_out, f64, 1);
    expect(B, f64, &a, CAUCHY_STATUS_OVERLAP, "grad_img2 overlaps grad_out", NULL);
    a = valid(), a.reduction = CAUCHY_REDUCTION_SUM, a.grad_out = elem_at(mem.grad_img1, f64, 2);
    expect(B, f64, &a, CAUCHY_STATUS_OVERLAP, "grad_img1 overlaps grad_out", NULL);
    a = valid(), a.grad_img2 = a.grad_img1;
    expect(B | F, f64, &a, CAUCHY_STATUS_OVERLAP, "grad_img1 overlaps grad_img2", NULL);
    a = valid(), a.reduction = CAUCHY_REDUCTION_MEAN, a.out = elem_at(mem.grad_img1, f64, 5);
    expect(F, f64, &a, CAUCHY_STATUS_OVERLAP, "out overlaps grad_img1", NULL);
    a = valid_reduce(), a.out = elem_at(mem.img1, f64, 3);
    expect(R, f64, &a, CAUCHY_STATUS_OVERLAP, "out overlaps x", NULL);
}

static void misaligned(int f64) {
    /* Aligned for float but not for double, or for nothing. */
    size_t off = f64 ? 4 : 2;
    Args a;
    a = valid(), a.img1 = (char *)mem.img1 + off;
    expect(LBF, f64, &a, CAUCHY_STATUS_INVALID_ARGUMENT, "img1 (0x", "not aligned");
    a = valid(), a.img2 = (char *)mem.img2 + off;
    expect(LBF, f64, &a, CAUCHY_STATUS_INVALID_ARGUMENT, "img2 (0x", "not aligned");
    a = valid(), a.out = (char *)mem.out + off;
    expect(L | F, f64, &a, CAUCHY_STATUS_INVALID_ARGUMENT, "out (0x", "not aligned");
    a = valid(), a.grad_out = (char *)mem.grad_out + off;
    expect(B, f64, &a, CAUCHY_STATUS_INVALID_ARGUMENT, "grad_out (0x", "not aligned");
    a = valid(), a.grad_img2 = (char *)mem.grad_img2 + off;
    expect(B | F, f64, &a, CAUCHY_STATUS_INVALID_ARGUMENT, "grad_img2 (0x", "not aligned");
    a = valid_reduce(), a.img1 = (char *)mem.img1 + off;
    expect(R, f64, &a, CAUCHY_STATUS_INVALID_ARGUMENT, "x (0x", "not aligned");
    a = valid_reduce(), a.out = (char *)mem.out + off;
    expect(R, f64, &a, CAUCHY_STATUS_INVALID_ARGUMENT, "out (0x", "not aligned");
}

/* One-element calls, which take their own quick checks: each rule still applies, with the
 * same status and message. img1 is [1] with a stride that must not matter. */
static void one_element(int f64) {
    static const int64_t ONE[1] = {1}, ONES[2] = {1, 1}, TWO[1] = {2}, STRIDE[1] = {7};
    static const int64_t ONE_TWO[2] = {1, 2};
    static int64_t ones[65];
    const CauchyTensorDesc one = {1, ONE, STRIDE}, ones2 = {2, ONES, NULL}, two = {1, TWO, NULL};
    const CauchyTensorDesc no_shape = {1, NULL, NULL}, too_many = {65, ones, NULL};
    const CauchyTensorDesc one_two = {2, ONE_TWO, NULL};
    size_t off = f64 ? 4 : 2;
    Args a, v = valid();
    int i;
    for (i = 0; i < 65; i++) ones[i] = 1;
    v.img1_desc = &one;
    a = v, a.img2 = NULL;
    expect(LBF, f64, &a, CAUCHY_STATUS_NULL_POINTER, "img2 is NULL", NULL);
    a = v, a.out = NULL;
    expect(L | F, f64, &a, CAUCHY_STATUS_NULL_POINTER, "out is NULL", NULL);
    a = v, a.img2_desc = &no_shape;
    expect(LBF, f64, &a, CAUCHY_STATUS_NULL_POINTER, "img2_desc is NULL", "shape");
    a = v, a.img2_desc = &ones2;
    expect(LBF, f64, &a, CAUCHY_STATUS_SHAPE_MISMATCH, "img2 shape [1, 1]", "[1]");
    a = v, a.grad_img1_desc = &two;
    expect(B | F, f64, &a, CAUCHY_STATUS_SHAPE_MISMATCH, "grad_img1 shape [2]", "[1]");
    a = v, a.out_desc = &too_many;
    expect(L | F, f64, &a, CAUCHY_STATUS_INVALID_SHAPE, "out_desc has ndim 65", NULL);
    a = v, a.reduction = CAUCHY_REDUCTION_MEAN, a.out_desc = &one_two;
    expect(L | F, f64, &a, CAUCHY_STATUS_SHAPE_MISMATCH, "out must hold exactly one", "[1, 2]");
    a = v, a.reduction = 3;
    expect(LBF | R, f64, &a, CAUCHY_STATUS_INVALID_REDUCTION, "reduction 3 ", NULL);
    a = v, a.img1 = (char *)mem.img1 + off;
    expect(LBF | R, f64, &a, CAUCHY_STATUS_INVALID_ARGUMENT, "(0x", "not aligned");
    a = v, a.reduction = CAUCHY_REDUCTION_SUM, a.out = (char *)mem.out + off;
    expect(L | F | R, f64, &a, CAUCHY_STATUS_INVALID_ARGUMENT, "out (0x", "not aligned");
    a = v, a.grad_img2 = a.grad_img1;
    expect(B | F, f64, &a, CAUCHY_STATUS_OVERLAP, "grad_img1 overlaps grad_img2", NULL);
    a = v, a.reduction = CAUCHY_REDUCTION_MEAN, a.out = a.grad_img2;
    expect(F, f64, &a, CAUCHY_STATUS_OVERLAP, "out overlaps grad_img2", NULL);
    a = v, a.out = mem.img1, a.grad_img1 = mem.img1;
    expect(F, f64, &a, CAUCHY_STATUS_OVERLAP, "out overlaps grad_img1", NULL);
    a = v, a.img1_desc = NULL;
    expect(LBF, f64, &a, CAUCHY_STATUS_NULL_POINTER, "img1_desc is NULL", NULL);
    /* NONE: a one-element grad_out or out has img1's sizes; MEAN / SUM: any one-element shape. */
    a = v, a.grad_out_desc = &ones2;
    expect(B, f64, &a, CAUCHY_STATUS_SHAPE_MISMATCH, "grad_out shape [1, 1]", "[1]");
    a = v, a.out_desc = &ones2;
    expect(L | F, f64, &a, CAUCHY_STATUS_SHAPE_MISMATCH, "out shape [1, 1]", "[1]");
    a = v, a.reduction = CAUCHY_REDUCTION_MEAN, a.grad_out_desc = &ones2, a.out_desc = &ones2;
    expect_ok(LOSS, f64, &a, "one element: MEAN out [1, 1] for img1 [1]", 0);
    expect_ok(BACKWARD, f64, &a, "one element: MEAN grad_out [1, 1] for img1 [1]", 0);
    expect_ok(FUSED, f64, &a, "one element: MEAN out [1, 1] for img1 [1]", 0);
    a = v, a.grad_img1 = NULL, a.grad_img2 = NULL;
    expect_ok(BACKWARD, f64, &a, "one element: both gradients skipped", 1);
    /* Exact aliases of one element are allowed, whatever the strides. */
    a = v, a.out = mem.img1, a.grad_img1 = mem.img2, a.grad_img2 = mem.grad_out;
    expect_ok(FUSED, f64, &a, "one element: out == img1, grad_img1 == img2 in place", 0);
    a = v, a.reduction = CAUCHY_REDUCTION_SUM, a.out = mem.img1;
    expect_ok(REDUCE, f64, &a, "one element: out == x in place", 0);
    a = v, a.grad_img1 = mem.grad_out;
    expect_ok(BACKWARD, f64, &a, "one element: grad_img1 == grad_out in place", 0);
}

/* What API.md allows must work: in place, skipped gradients, empty and one-element tensors. */
static void allowed(int f64) {
    static const int64_t EXPLICIT[3] = {12, 4, 1};
    static const int64_t FLIPPED[3] = {-12, -4, -1};
    static const int64_t EXPANDED[3] = {0, 4, 1};
    static const int64_t EMPTY[3] = {2, 0, 4};
    static const int64_t ONE[2] = {1, 1};
    static const int64_t ODD[2] = {5, -7};
    const CauchyTensorDesc explicit_desc = {3, SHAPE, EXPLICIT};
    const CauchyTensorDesc flipped = {3, SHAPE, FLIPPED};
    const CauchyTensorDesc expanded = {3, SHAPE, EXPANDED};
    const CauchyTensorDesc empty = {3, EMPTY, NULL};
    const CauchyTensorDesc scalar = {0, NULL, NULL};
    const CauchyTensorDesc one = {2, ONE, ODD};
    char what[160];
    Args a;
    int fn;

    /* In place: outputs exactly aliasing inputs (NULL strides = the explicit contiguous ones). */
    a = valid(), a.img1_desc = &explicit_desc, a.out = mem.img1;
    expect_ok(LOSS, f64, &a, "out == img1 in place", 0);
    check(memcmp(mem.img1, pristine.img1, sizeof mem.img1) != 0, "in-place loss wrote img1", NULL);
    a = valid(), a.grad_img1 = mem.img1, a.grad_img2 = mem.img2;
    expect_ok(BACKWARD, f64, &a, "grad_img1 == img1, grad_img2 == img2 in place", 0);
    a = valid(), a.out = mem.img1, a.grad_img1 = mem.img2, a.grad_img2 = mem.grad_out;
    expect_ok(FUSED, f64, &a, "out == img1, grad_img1 == img2 in place", 0);
    a = valid(), a.img1 = elem_at(mem.img1, f64, 23), a.img1_desc = &flipped;
    a.out = elem_at(mem.img1, f64, 23), a.out_desc = &flipped;
    expect_ok(LOSS, f64, &a, "flipped out == flipped img1 in place", 0);
    a = valid(), a.img2_desc = &expanded;
    expect_ok(LOSS, f64, &a, "stride-0 img2", 0);

    a = valid(), a.grad_img1 = a.grad_img2 = NULL;
    expect_ok(BACKWARD, f64, &a, "both gradients NULL", 1);

    a = valid(), a.img1_desc = &scalar;
    expect_ok(LOSS, f64, &a, "ndim 0 with shape NULL", 0);
    a = valid(), a.reduction = CAUCHY_REDUCTION_MEAN, a.out_desc = &one;
    expect_ok(LOSS, f64, &a, "one-element out descriptor [1, 1] with strides [5, -7]", 0);

    /* Empty tensors, with NULL data wherever an operand is empty. */
    a = valid(), a.img1_desc = &empty;
    a.img1 = a.img2 = a.grad_out = a.out = a.grad_img1 = a.grad_img2 = NULL;
    expect_ok(LOSS, f64, &a, "empty NONE", 1);
    expect_ok(BACKWARD, f64, &a, "empty NONE, gradients NULL", 1);
    a.grad_img1 = mem.grad_img1, a.grad_img2 = mem.grad_img2;
    expect_ok(BACKWARD, f64, &a, "empty NONE writes no gradient", 1);
    a.reduction = CAUCHY_REDUCTION_SUM, a.grad_out = mem.grad_out;
    expect_ok(BACKWARD, f64, &a, "empty SUM writes no gradient", 1);
    for (fn = LOSS; fn < FN_COUNT; fn++) {
        if (fn == BACKWARD) continue;
        a.out = mem.out;
        a.reduction = CAUCHY_REDUCTION_SUM;
        expect_ok((enum Fn)fn, f64, &a, "empty SUM", 0);
        snprintf(what, sizeof what, "%s %s: empty SUM is +0", f64 ? "f64" : "f32", FN_NAMES[fn]);
        check(out0(f64) == 0 && !signbit(out0(f64)), what, NULL);
        a.reduction = CAUCHY_REDUCTION_MEAN;
        expect_ok((enum Fn)fn, f64, &a, "empty MEAN", 0);
        snprintf(what, sizeof what, "%s %s: empty MEAN is NaN", f64 ? "f64" : "f32", FN_NAMES[fn]);
        check(isnan(out0(f64)), what, NULL);
        snprintf(what, sizeof what, "%s %s: empty writes one element only", f64 ? "f64" : "f32",
                 FN_NAMES[fn]);
        check(memcmp((char *)mem.out + elem_size(f64), (char *)pristine.out + elem_size(f64),
                     sizeof mem.out - elem_size(f64)) == 0 &&
                  memcmp(mem.grad_img1, pristine.grad_img1, sizeof mem.grad_img1) == 0 &&
                  memcmp(mem.grad_img2, pristine.grad_img2, sizeof mem.grad_img2) == 0,
              what, NULL);
    }
}

static void status_names(void) {
    static const int32_t UNKNOWN[4] = {-1, 8, 1000, INT32_MIN};
    int32_t code;
    int i;
    for (code = 0; code < 8; code++) {
        check(strcmp(cauchy_status_name(code), STATUS_NAMES[code]) == 0, STATUS_NAMES[code],
              cauchy_status_name(code));
    }
    for (i = 0; i < 4; i++) {
        char what[64];
        snprintf(what, sizeof what, "status %ld is unknown", (long)UNKNOWN[i]);
        check(strcmp(cauchy_status_name(UNKNOWN[i]), "CAUCHY_STATUS_UNKNOWN") == 0, what,
              cauchy_status_name(UNKNOWN[i]));
    }
}

static void threads(void) {
    /* The call first: a failure frees the previous message. */
    CauchyStatus got = cauchy_set_num_threads(4097);
    check(got == CAUCHY_STATUS_INVALID_ARGUMENT &&
              strstr(cauchy_last_error_message(), "thread count 4097") != NULL,
          "cauchy_set_num_threads(4097) is INVALID_ARGUMENT", cauchy_last_error_message());
    check(cauchy_set_num_threads(4096) == CAUCHY_STATUS_OK && cauchy_get_num_threads() == 4096,
          "cauchy_set_num_threads(4096) is accepted", NULL);
    check(cauchy_set_num_threads(0) == CAUCHY_STATUS_OK && cauchy_get_num_threads() >= 1,
          "cauchy_set_num_threads(0) restores a default", NULL);
}

/* A second thread: its message starts empty, then is its own. */
static void *other_thread(void *unused) {
    float x = 1.0f, out = 0.0f;
    const CauchyTensorDesc scalar = {0, NULL, NULL};
    (void)unused;
    check(strcmp(cauchy_last_error_message(), "") == 0, "a new thread's message is empty",
          cauchy_last_error_message());
    check(cauchy_reduce_f32(&x, &scalar, 3, &out) == CAUCHY_STATUS_INVALID_REDUCTION,
          "a second thread's failure", NULL);
    check(strstr(cauchy_last_error_message(), "reduction 3 ") != NULL,
          "a thread's failure sets its own message", cauchy_last_error_message());
    return NULL;
}

static void messages(void) {
    pthread_t thread;
    Args a = valid();
    prepare(0);
    a.img2 = NULL;
    reset_and_call(LOSS, 0, &a);
    a.img2 = mem.img2;
    check(call(LOSS, 0, &a) == CAUCHY_STATUS_OK, "a success after a failure", NULL);
    check(strstr(cauchy_last_error_message(), "img2 is NULL") != NULL,
          "a success leaves the last failure's message", cauchy_last_error_message());
    check(pthread_create(&thread, NULL, other_thread, NULL) == 0 &&
              pthread_join(thread, NULL) == 0,
          "second thread ran", NULL);
    check(strstr(cauchy_last_error_message(), "img2 is NULL") != NULL,
          "another thread's failure leaves this thread's message", cauchy_last_error_message());
}

int main(void) {
    int f64;
    for (f64 = 0; f64 < 2; f64++) {
        prepare(f64);
        null_pointers(f64);
        invalid_shapes(f64);
        invalid_reductions(f64);
        shape_mismatches(f64);
        overlaps(f64);
        misaligned(f64);
        one_element(f64);
        allowed(f64);
    }
    status_names();
    threads();
    messages();
    printf("checks %d failures %d\n", checks, failures);
    return failures != 0;
}
