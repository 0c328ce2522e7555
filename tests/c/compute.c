/* Runs every libcauchy function, for float and double, on deterministic data over several
 * memory layouts, and prints what each call was given and what it wrote. tests/c_api.rs
 * regenerates the inputs from the printed seeds, computes the expected results with the
 * reference implementation, and checks both the results and that nothing else was written.
 *
 * Output, per call:
 *   call <layout> <function> <f32|f64> <reduction> <status>
 *   op <role> <seed> <buffer length> <offset of [0,...,0]> <ndim> <shape...> <strides...> <bits...>
 * with one `op` line per operand; outputs list their whole buffer after the call as hex bits.
 * Every buffer is malloc'ed to its exact length, so valgrind sees any access outside it. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calls.h"

enum Role { IMG1, IMG2, GRAD_OUT, OUT, GRAD_IMG1, GRAD_IMG2, ROLE_COUNT };

static const char *const ROLE_NAMES[ROLE_COUNT] = {"img1",     "img2",      "grad_out",
                                                   "out",      "grad_img1", "grad_img2"};

/* How one operand sits in its buffer. */
typedef struct {
    const int64_t *strides; /* NULL: C-contiguous (and passed as a NULL descriptor if allowed) */
    ptrdiff_t base;         /* element offset of [0, ..., 0] */
    size_t len;             /* buffer length in elements */
} View;

typedef struct {
    const char *name;
    size_t ndim;
    const int64_t *shape;
    View view[ROLE_COUNT];
    /* Outputs working in place: the role whose buffer (and view) each one shares, or -1. */
    int alias[ROLE_COUNT];
} Layout;

static const int64_t SHAPE[3] = {3, 4, 5};
static const int64_t UNIT_SHAPE[3] = {3, 1, 5};

/* Strides of SHAPE views: transposes, flips, expansions (stride 0) and slices. */
static const int64_t T_120[3] = {1, 3, 12};
static const int64_t T_102[3] = {1, 15, 3};
static const int64_t FLIP_ALL[3] = {-20, -5, -1};
static const int64_t FLIP_1[3] = {20, -5, 1};
static const int64_t FLIP_0[3] = {-20, 5, 1};
static const int64_t FLIP_2[3] = {20, 5, -1};
static const int64_t EXPAND_0[3] = {0, 5, 1};
static const int64_t EXPAND_01[3] = {0, 0, 1};
static const int64_t SLICE[3] = {42, 7, 1};   /* [1:4, 1:5, 2:7] of a 4x6x7 buffer */
static const int64_t STEP2[3] = {40, 10, 2};  /* [:, :, ::2] of a 3x4x10 buffer */
static const int64_t STEP2_FLIP[3] = {-40, -10, -2};
static const int64_t STEP3[3] = {60, 15, 3};
/* Strides of UNIT_SHAPE views: a size-1 dimension's stride means nothing. */
static const int64_t UNIT_A[3] = {5, -7, 1};
static const int64_t UNIT_B[3] = {5, 1000, 1};

#define CONTIG {NULL, 0, 60}
#define NO_ALIAS {-1, -1, -1, -1, -1, -1}

static const Layout LAYOUTS[] = {
    {"contiguous", 3, SHAPE, {CONTIG, CONTIG, CONTIG, CONTIG, CONTIG, CONTIG}, NO_ALIAS},
    {"transposed",
     3,
     SHAPE,
     {{T_120, 0, 60}, CONTIG, {T_120, 0, 60}, {T_120, 0, 60}, CONTIG, {T_102, 0, 60}},
     NO_ALIAS},
    {"flipped",
     3,
     SHAPE,
     {{FLIP_ALL, 59, 60},
      {FLIP_1, 15, 60},
      {FLIP_0, 40, 60},
      {FLIP_ALL, 59, 60},
      {FLIP_2, 4, 60},
      CONTIG},
     NO_ALIAS},
    {"expanded",
     3,
     SHAPE,
     {CONTIG, {EXPAND_0, 0, 20}, {EXPAND_01, 0, 5}, CONTIG, CONTIG, CONTIG},
     NO_ALIAS},
    {"sliced",
     3,
     SHAPE,
     {{SLICE, 51, 168},
      {STEP2, 0, 120},
      {STEP3, 1, 180},
      {STEP2, 0, 120},
      {SLICE, 51, 168},
      {STEP2_FLIP, 119, 120}},
     NO_ALIAS},
    /* out in place on img1 (flipped), grad_img1 on img2, grad_img2 on grad_out. */
    {"in_place",
     3,
     SHAPE,
     {{FLIP_ALL, 59, 60}, CONTIG, CONTIG, {FLIP_ALL, 59, 60}, CONTIG, CONTIG},
     {-1, -1, -1, IMG1, IMG2, GRAD_OUT}},
    {"unit_dims",
     3,
     UNIT_SHAPE,
     {{UNIT_A, 0, 15}, {NULL, 0, 15}, {UNIT_B, 0, 15}, {UNIT_B, 0, 15}, {NULL, 0, 15},
      {UNIT_A, 0, 15}},
     {-1, -1, -1, IMG1, -1, -1}},
    {"scalar",
     0,
     NULL,
     {{NULL, 0, 1}, {NULL, 0, 1}, {NULL, 0, 1}, {NULL, 0, 1}, {NULL, 0, 1}, {NULL, 0, 1}},
     NO_ALIAS},
};

/* The roles each function takes. */
static const int USES[FN_COUNT][ROLE_COUNT] = {
    {1, 1, 0, 1, 0, 0}, /* LOSS */
    {1, 1, 1, 0, 1, 1}, /* BACKWARD */
    {1, 1, 0, 1, 1, 1}, /* FUSED */
    {1, 0, 0, 1, 0, 0}, /* REDUCE: x (as img1), out */
};

/* The next value of a 64-bit LCG: a 53-bit mantissa scaled by one of eight magnitudes, so
 * the data has residuals from tiny to large. tests/c_api.rs has the same generator. */
static double lcg_next(uint64_t *state) {
    static const int EXPONENTS[8] = {-30, -12, -4, -1, 0, 2, 6, 12};
    int64_t mantissa;
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    mantissa = (int64_t)((*state >> 8) & ((1ULL << 53) - 1)) - ((int64_t)1 << 52);
    return ldexp((double)mantissa, EXPONENTS[*state >> 61] - 52);
}

/* One operand of one call: its view, buffer and descriptor. */
typedef struct {
    int used, owned;
    uint64_t seed;
    View view;
    size_t ndim;
    int64_t strides[3]; /* as printed: explicit even when the view's are NULL */
    void *buf;
    CauchyTensorDesc desc;
} Operand;

static uint64_t next_seed = 1;

/* Allocate and fill a buffer of `len` elements from a fresh seed. */
static void *filled(int f64, size_t len, uint64_t *seed) {
    void *buf = malloc(len * elem_size(f64));
    uint64_t state = *seed = next_seed++;
    size_t i;
    if (!buf) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    for (i = 0; i < len; i++) {
        double v = lcg_next(&state);
        if (f64) {
            ((double *)buf)[i] = v;
        } else {
            ((float *)buf)[i] = (float)v;
        }
    }
    return buf;
}

static void print_operand(int role, const Operand *op, int f64, int output) {
    size_t i;
    printf("op %s %llu %zu %td %zu", ROLE_NAMES[role], (unsigned long long)op->seed,
           op->view.len, op->view.base, op->ndim);
    for (i = 0; i < op->ndim; i++) printf(" %lld", (long long)op->desc.shape[i]);
    for (i = 0; i < op->ndim; i++) printf(" %lld", (long long)op->strides[i]);
    for (i = 0; output && i < op->view.len; i++) {
        if (f64) {
            uint64_t bits;
            memcpy(&bits, (double *)op->buf + i, sizeof bits);
            printf(" %llx", (unsigned long long)bits);
        } else {
            uint32_t bits;
            memcpy(&bits, (float *)op->buf + i, sizeof bits);
            printf(" %lx", (unsigned long)bits);
        }
    }
    printf("\n");
}

/* Run one call on one layout and print it; returns its status. */
static CauchyStatus run(const Layout *l, enum Fn fn, int f64, int32_t reduction) {
    static const View SCALAR = {NULL, 0, 1};
    Operand ops[ROLE_COUNT];
    Args a;
    CauchyStatus status;
    int r;
    memset(ops, 0, sizeof ops);
    for (r = 0; r < ROLE_COUNT; r++) {
        Operand *op = &ops[r];
        int scalar = (r == OUT || r == GRAD_OUT) && (reduction != CAUCHY_REDUCTION_NONE);
        int target = l->alias[r];
        size_t d;
        int64_t step = 1;
        if (!USES[fn][r]) continue;
        op->used = 1;
        op->ndim = scalar ? 0 : l->ndim;
        op->view = scalar ? SCALAR : l->view[r];
        op->desc.ndim = op->ndim;
        op->desc.shape = l->shape;
        op->desc.strides = op->view.strides;
        for (d = op->ndim; d-- > 0;) {
            op->strides[d] = op->view.strides ? op->view.strides[d] : step;
            step *= l->shape[d];
        }
        if (!scalar && target >= 0 && ops[target].used && ops[target].ndim == op->ndim) {
            op->seed = ops[target].seed;
            op->buf = ops[target].buf;
        } else {
            op->owned = 1;
            op->buf = filled(f64, op->view.len, &op->seed);
        }
    }
#define DATA(r) (ops[r].used ? elem_at(ops[r].buf, f64, ops[r].view.base) : NULL)
#define DESC(r) (ops[r].used && (r == IMG1 || ops[r].desc.strides) ? &ops[r].desc : NULL)
    a.img1 = DATA(IMG1);
    a.img1_desc = DESC(IMG1);
    a.img2 = DATA(IMG2);
    a.img2_desc = DESC(IMG2);
    a.reduction = reduction;
    a.grad_out = DATA(GRAD_OUT);
    a.grad_out_desc = DESC(GRAD_OUT);
    a.out = DATA(OUT);
    a.out_desc = DESC(OUT);
    a.grad_img1 = DATA(GRAD_IMG1);
    a.grad_img1_desc = DESC(GRAD_IMG1);
    a.grad_img2 = DATA(GRAD_IMG2);
    a.grad_img2_desc = DESC(GRAD_IMG2);
#undef DATA
#undef DESC
    status = call(fn, f64, &a);
    printf("call %s %s %s %d %d\n", l->name, FN_NAMES[fn], f64 ? "f64" : "f32", (int)reduction,
           (int)status);
    for (r = 0; r < ROLE_COUNT; r++) {
        int output = r == OUT || r == GRAD_IMG1 || r == GRAD_IMG2;
        if (ops[r].used) print_operand(r, &ops[r], f64, output);
    }
    for (r = 0; r < ROLE_COUNT; r++) {
        if (ops[r].owned) free(ops[r].buf);
    }
    return status;
}

int main(void) {
    size_t l;
    int fn, f64, reduction, failures = 0;
    for (l = 0; l < sizeof LAYOUTS / sizeof LAYOUTS[0]; l++) {
        for (f64 = 0; f64 < 2; f64++) {
            for (fn = 0; fn < FN_COUNT; fn++) {
                for (reduction = fn == REDUCE ? CAUCHY_REDUCTION_MEAN : CAUCHY_REDUCTION_NONE;
                     reduction <= CAUCHY_REDUCTION_SUM; reduction++) {
                    failures += run(&LAYOUTS[l], (enum Fn)fn, f64, reduction) != CAUCHY_STATUS_OK;
                }
            }
        }
    }
    return failures != 0;
}
