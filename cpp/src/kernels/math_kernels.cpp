// The transcendental kernels, compiled once per instruction-set path (CMakeLists.txt
// builds this file three times on x86-64: baseline, x86-64-v3, x86-64-v4, each into
// its own namespace BRICKS_KERNEL_NS); dispatch.cpp picks one table at run time.
//
// -ffast-math (this file only) lets GCC call glibc's vector exp/log/tanh (libmvec).
// -mno-recip keeps true division: without it GCC lowers 1/(1+e) to rcpps plus one
// Newton step on SSE/AVX2, and sigmoid(20) came out 0.99999994 instead of 1.
// No std:: templates or inline library functions here: an instantiation compiled
// for AVX-512 could be the copy the linker keeps for the whole program.
#include <math.h>
#include <stdint.h>

#include "kernel_table.h"

#ifndef BRICKS_KERNEL_NS
#error "BRICKS_KERNEL_NS names the instruction-set path this copy is built for"
#endif

namespace bricks::kernels::BRICKS_KERNEL_NS {
namespace {

inline float fabs_(float v) { return fabsf(v); }
inline double fabs_(double v) { return fabs(v); }
inline float exp_(float v) { return expf(v); }
inline double exp_(double v) { return exp(v); }
inline float log_(float v) { return logf(v); }
inline double log_(double v) { return log(v); }
inline float log1p_(float v) { return log1pf(v); }
inline double log1p_(double v) { return log1p(v); }
inline float tanh_(float v) { return tanhf(v); }
inline double tanh_(double v) { return tanh(v); }
template <class T>
inline T max_(T a, T b) {
  return a > b ? a : b;
}
inline float tiny_(float) { return 1.40129846e-45f; }  // float32 denorm_min
inline double tiny_(double) { return 4.9406564584124654e-324; }

template <class T>
void sigmoid_impl(const T* x, T* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const T e = exp_(-fabs_(x[i]));  // in (0, 1]: never overflows
    const T r = T(1) / (T(1) + e);   // exactly 1 once e < half an ulp of 1 (|x| >= 17 in float32)
    y[i] = x[i] >= T(0) ? r : e * r;
  }
}

template <class T>
void tanh_impl(const T* x, T* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = tanh_(x[i]);
}

template <class T>
T row_max(const T* x, int64_t cols) {
  T m = x[0];
  for (int64_t j = 1; j < cols; ++j) m = max_(m, x[j]);
  return m;
}

template <class T>
void softmax_impl(const T* x, T* y, int64_t rows, int64_t cols) {
  for (int64_t i = 0; i < rows; ++i) {
    const T* xi = x + i * cols;
    T* yi = y + i * cols;
    const T m = row_max(xi, cols);
    T s = 0;
    for (int64_t j = 0; j < cols; ++j) {
      yi[j] = exp_(xi[j] - m);
      s += yi[j];
    }
    const T inv = T(1) / s;  // s >= 1: the max term is exp(0)
    for (int64_t j = 0; j < cols; ++j) yi[j] *= inv;
  }
}

template <class T>
void log_softmax_impl(const T* x, T* y, int64_t rows, int64_t cols) {
  for (int64_t i = 0; i < rows; ++i) {
    const T* xi = x + i * cols;
    T* yi = y + i * cols;
    const T m = row_max(xi, cols);
    T s = 0;
    // y = (x - m) - log s, never x - (m + log s): at logits of 1e4 the latter
    // loses every digit float32 has below 1e-3.
    for (int64_t j = 0; j < cols; ++j) {
      yi[j] = xi[j] - m;
      s += exp_(yi[j]);
    }
    const T ls = log_(s);
    for (int64_t j = 0; j < cols; ++j) yi[j] -= ls;
  }
}

template <class T>
void exp_impl(const T* x, T* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = exp_(x[i]);
}

template <class T>
void log_clamped_impl(const T* x, T* y, int64_t n) {
  // log(0) would be -inf (undefined under fast-math): floor the argument instead,
  // then clamp as PyTorch does.
  const T tiny = tiny_(T(0));  // log of it is below -100
  for (int64_t i = 0; i < n; ++i) {
    const T l = log_(max_(x[i], tiny));
    y[i] = x[i] > T(0) ? max_(l, T(-100)) : T(-100);
  }
}

template <class T>
void log1p_exp_neg_abs_impl(const T* x, T* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = log1p_(exp_(-fabs_(x[i])));
}

}  // namespace

extern const Table table = {
    sigmoid_impl<float>,
    sigmoid_impl<double>,
    tanh_impl<float>,
    tanh_impl<double>,
    softmax_impl<float>,
    softmax_impl<double>,
    log_softmax_impl<float>,
    log_softmax_impl<double>,
    exp_impl<float>,
    exp_impl<double>,
    log_clamped_impl<float>,
    log_clamped_impl<double>,
    log1p_exp_neg_abs_impl<float>,
    log1p_exp_neg_abs_impl<double>,
};

}  // namespace bricks::kernels::BRICKS_KERNEL_NS
