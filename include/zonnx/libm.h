/*
 * The math the kernels use. Normally <math.h>. Zephyr's minimal libc has no
 * libm (its math.h declares sqrtf() and sqrt() only), so there zonnx links
 * the toolchain's libm (CONFIG_ZONNX_TOOLCHAIN_LIBM) and declares what it
 * calls, with the classification macros from compiler built-ins.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef ZONNX_LIBM_H_
#define ZONNX_LIBM_H_

#if defined(CONFIG_MINIMAL_LIBC)

float expf(float x);
float logf(float x);
float log1pf(float x);
float sqrtf(float x);
float powf(float x, float y);
float fabsf(float x);
float floorf(float x);
float ceilf(float x);
float nearbyintf(float x);
float fmaxf(float x, float y);
float fminf(float x, float y);
float fmodf(float x, float y);
float erff(float x);
float sinf(float x);
float cosf(float x);
float tanf(float x);
float asinf(float x);
float acosf(float x);
float atanf(float x);
float sinhf(float x);
float coshf(float x);
float tanhf(float x);
float asinhf(float x);
float acoshf(float x);
float atanhf(float x);
double exp(double x);
double log(double x);
double log1p(double x);
double sqrt(double x);
double pow(double x, double y);
double fabs(double x);
double floor(double x);
double ceil(double x);
double nearbyint(double x);
double fmax(double x, double y);
double fmin(double x, double y);
double fmod(double x, double y);
double tanh(double x);

#define INFINITY (__builtin_inff())
#define NAN (__builtin_nanf(""))
#define HUGE_VALF (__builtin_huge_valf())
#define isnan(x) __builtin_isnan(x)
#define isinf(x) __builtin_isinf(x)
#define isfinite(x) __builtin_isfinite(x)

#else
#include <math.h>
#endif

#endif /* ZONNX_LIBM_H_ */
