/* Compiled as C99 and C11 (and, through header_check.cpp, as C++11 and C++17) with every
 * warning an error: include/cauchy.h must compile cleanly, declare every function with the
 * signature API.md gives, and define every constant with its value. Run, it checks the
 * library against the header and prints the library's version. */
#include <stdio.h>
#include <string.h>

#include "cauchy.h"

#if !defined(CAUCHY_MAX_NDIM) || CAUCHY_MAX_NDIM != 64
#error "CAUCHY_MAX_NDIM is not 64"
#endif
#if !defined(CAUCHY_REDUCTION_NONE) || CAUCHY_REDUCTION_NONE != 0 || \
    !defined(CAUCHY_REDUCTION_MEAN) || CAUCHY_REDUCTION_MEAN != 1 || \
    !defined(CAUCHY_REDUCTION_SUM) || CAUCHY_REDUCTION_SUM != 2
#error "the CAUCHY_REDUCTION_* values are not ATen's"
#endif
#if !defined(CAUCHY_VERSION_MAJOR) || !defined(CAUCHY_VERSION_MINOR) || \
    !defined(CAUCHY_VERSION_PATCH) || !defined(CAUCHY_VERSION_NUMBER) || \
    CAUCHY_VERSION_NUMBER !=                                                \
        CAUCHY_VERSION_MAJOR * 10000 + CAUCHY_VERSION_MINOR * 100 + CAUCHY_VERSION_PATCH
#error "the CAUCHY_VERSION_* macros are missing or inconsistent"
#endif

static int failures;

static void check(int ok, const char *what) {
    printf("%s %s\n", ok ? "ok" : "FAIL", what);
    failures += !ok;
}

int main(void) {
    /* API.md's signatures: assigning a function of another type does not compile. */
    CauchyStatus (*loss_f32)(const float *, const CauchyTensorDesc *, const float *,
                             const CauchyTensorDesc *, int32_t, float *,
                             const CauchyTensorDesc *) = cauchy_loss_f32;
    CauchyStatus (*loss_f64)(const double *, const CauchyTensorDesc *, const double *,
                             const CauchyTensorDesc *, int32_t, double *,
                             const CauchyTensorDesc *) = cauchy_loss_f64;
    CauchyStatus (*backward_f32)(const float *, const CauchyTensorDesc *, const float *,
                                 const CauchyTensorDesc *, int32_t, const float *,
                                 const CauchyTensorDesc *, float *, const CauchyTensorDesc *,
                                 float *, const CauchyTensorDesc *) = cauchy_loss_backward_f32;
    CauchyStatus (*backward_f64)(const double *, const CauchyTensorDesc *, const double *,
                                 const CauchyTensorDesc *, int32_t, const double *,
                                 const CauchyTensorDesc *, double *, const CauchyTensorDesc *,
                                 double *, const CauchyTensorDesc *) = cauchy_loss_backward_f64;
    CauchyStatus (*fused_f32)(const float *, const CauchyTensorDesc *, const float *,
                              const CauchyTensorDesc *, int32_t, float *,
                              const CauchyTensorDesc *, float *, const CauchyTensorDesc *,
                              float *, const CauchyTensorDesc *) = cauchy_loss_and_grad_f32;
    CauchyStatus (*fused_f64)(const double *, const CauchyTensorDesc *, const double *,
                              const CauchyTensorDesc *, int32_t, double *,
                              const CauchyTensorDesc *, double *, const CauchyTensorDesc *,
                              double *, const CauchyTensorDesc *) = cauchy_loss_and_grad_f64;
    CauchyStatus (*reduce_f32)(const float *, const CauchyTensorDesc *, int32_t, float *) =
        cauchy_reduce_f32;
    CauchyStatus (*reduce_f64)(const double *, const CauchyTensorDesc *, int32_t, double *) =
        cauchy_reduce_f64;
    const char *(*status_name)(int32_t) = cauchy_status_name;
    const char *(*last_error_message)(void) = cauchy_last_error_message;
    uint32_t (*version)(void) = cauchy_version;
    const char *(*version_string)(void) = cauchy_version_string;
    CauchyStatus (*set_num_threads)(size_t) = cauchy_set_num_threads;
    size_t (*get_num_threads)(void) = cauchy_get_num_threads;
    const char *(*kernel_name)(void) = cauchy_kernel_name;
    const int statuses[8] = {CAUCHY_STATUS_OK,
                             CAUCHY_STATUS_NULL_POINTER,
                             CAUCHY_STATUS_SHAPE_MISMATCH,
                             CAUCHY_STATUS_INVALID_SHAPE,
                             CAUCHY_STATUS_INVALID_REDUCTION,
                             CAUCHY_STATUS_OVERLAP,
                             CAUCHY_STATUS_INVALID_ARGUMENT,
                             CAUCHY_STATUS_INTERNAL};
    char version_text[32];
    int i, in_order = 1;

    for (i = 0; i < 8; i++) in_order &= statuses[i] == i;
    check(in_order, "the CAUCHY_STATUS_* values are 0 to 7");
    check(sizeof(CauchyStatus) == sizeof(int32_t), "CauchyStatus is 32 bits");
    check(sizeof(CauchyTensorDesc) == sizeof(size_t) + 2 * sizeof(void *),
          "CauchyTensorDesc is { size_t, pointer, pointer }");
    /* Every function, called: img1_desc / x_desc NULL is a NULL pointer. */
    check(loss_f32(NULL, NULL, NULL, NULL, 0, NULL, NULL) == CAUCHY_STATUS_NULL_POINTER &&
              loss_f64(NULL, NULL, NULL, NULL, 0, NULL, NULL) == CAUCHY_STATUS_NULL_POINTER &&
              backward_f32(NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL) ==
                  CAUCHY_STATUS_NULL_POINTER &&
              backward_f64(NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL) ==
                  CAUCHY_STATUS_NULL_POINTER &&
              fused_f32(NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL) ==
                  CAUCHY_STATUS_NULL_POINTER &&
              fused_f64(NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL) ==
                  CAUCHY_STATUS_NULL_POINTER &&
              reduce_f32(NULL, NULL, 1, NULL) == CAUCHY_STATUS_NULL_POINTER &&
              reduce_f64(NULL, NULL, 1, NULL) == CAUCHY_STATUS_NULL_POINTER,
          "every computing function is callable");
    check(strstr(last_error_message(), "x_desc") != NULL, "cauchy_last_error_message()");
    check(strcmp(status_name(CAUCHY_STATUS_OVERLAP), "CAUCHY_STATUS_OVERLAP") == 0,
          "cauchy_status_name()");
    check(set_num_threads(0) == CAUCHY_STATUS_OK && get_num_threads() >= 1,
          "cauchy_set_num_threads() / cauchy_get_num_threads()");
    check(strcmp(kernel_name(), "avx512") == 0 || strcmp(kernel_name(), "avx2") == 0 ||
              strcmp(kernel_name(), "portable") == 0,
          "cauchy_kernel_name()");
    check(version() == CAUCHY_VERSION_NUMBER, "cauchy_version() is CAUCHY_VERSION_NUMBER");
    check(strcmp(version_string(), CAUCHY_VERSION_STRING) == 0,
          "cauchy_version_string() is CAUCHY_VERSION_STRING");
    snprintf(version_text, sizeof version_text, "%d.%d.%d", CAUCHY_VERSION_MAJOR,
             CAUCHY_VERSION_MINOR, CAUCHY_VERSION_PATCH);
    check(strcmp(version_text, CAUCHY_VERSION_STRING) == 0,
          "CAUCHY_VERSION_STRING is MAJOR.MINOR.PATCH");
    printf("version %s\n", version_string());
    return failures != 0;
}
