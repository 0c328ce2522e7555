/* One entry point for every fallible libcauchy call, so that the test programs run the same
 * cases for float and double and for each function without writing them out eight times. */
#ifndef CALLS_H
#define CALLS_H

#include <stddef.h>

#include "cauchy.h"

enum Fn { LOSS, BACKWARD, FUSED, REDUCE, FN_COUNT };

static const char *const FN_NAMES[FN_COUNT] = {"loss", "backward", "loss_and_grad", "reduce"};

/* The arguments of any call; each function uses the ones it has (REDUCE: x = img1, x_desc =
 * img1_desc, out). Data pointers are float * or double * depending on the call's type. */
typedef struct {
    const void *img1;
    const CauchyTensorDesc *img1_desc;
    const void *img2;
    const CauchyTensorDesc *img2_desc;
    int32_t reduction;
    const void *grad_out;
    const CauchyTensorDesc *grad_out_desc;
    void *out;
    const CauchyTensorDesc *out_desc;
    void *grad_img1;
    const CauchyTensorDesc *grad_img1_desc;
    void *grad_img2;
    const CauchyTensorDesc *grad_img2_desc;
} Args;

/* The element size of a call's type. */
static size_t elem_size(int f64) { return f64 ? sizeof(double) : sizeof(float); }

/* `base` advanced by `i` elements of the call's type (any sign). */
static void *elem_at(const void *base, int f64, ptrdiff_t i) {
    return (char *)base + i * (ptrdiff_t)elem_size(f64);
}

static CauchyStatus call_f32(enum Fn fn, const Args *a) {
    switch (fn) {
    case LOSS:
        return cauchy_loss_f32((const float *)a->img1, a->img1_desc, (const float *)a->img2,
                               a->img2_desc, a->reduction, (float *)a->out, a->out_desc);
    case BACKWARD:
        return cauchy_loss_backward_f32(
            (const float *)a->img1, a->img1_desc, (const float *)a->img2, a->img2_desc,
            a->reduction, (const float *)a->grad_out, a->grad_out_desc, (float *)a->grad_img1,
            a->grad_img1_desc, (float *)a->grad_img2, a->grad_img2_desc);
    case FUSED:
        return cauchy_loss_and_grad_f32(
            (const float *)a->img1, a->img1_desc, (const float *)a->img2, a->img2_desc,
            a->reduction, (float *)a->out, a->out_desc, (float *)a->grad_img1, a->grad_img1_desc,
            (float *)a->grad_img2, a->grad_img2_desc);
    default:
        return cauchy_reduce_f32((const float *)a->img1, a->img1_desc, a->reduction,
                                 (float *)a->out);
    }
}

static CauchyStatus call_f64(enum Fn fn, const Args *a) {
    switch (fn) {
    case LOSS:
        return cauchy_loss_f64((const double *)a->img1, a->img1_desc, (const double *)a->img2,
                               a->img2_desc, a->reduction, (double *)a->out, a->out_desc);
    case BACKWARD:
        return cauchy_loss_backward_f64(
            (const double *)a->img1, a->img1_desc, (const double *)a->img2, a->img2_desc,
            a->reduction, (const double *)a->grad_out, a->grad_out_desc, (double *)a->grad_img1,
            a->grad_img1_desc, (double *)a->grad_img2, a->grad_img2_desc);
    case FUSED:
        return cauchy_loss_and_grad_f64(
            (const double *)a->img1, a->img1_desc, (const double *)a->img2, a->img2_desc,
            a->reduction, (double *)a->out, a->out_desc, (double *)a->grad_img1,
            a->grad_img1_desc, (double *)a->grad_img2, a->grad_img2_desc);
    default:
        return cauchy_reduce_f64((const double *)a->img1, a->img1_desc, a->reduction,
                                 (double *)a->out);
    }
}

/* Run `fn` for float (f64 == 0) or double (f64 == 1). */
static CauchyStatus call(enum Fn fn, int f64, const Args *a) {
    return f64 ? call_f64(fn, a) : call_f32(fn, a);
}

#endif /* CALLS_H */
