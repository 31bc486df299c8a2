// Compiled with -ffast-math (this file only) so GCC calls glibc's vector exp/log;
// target_clones picks AVX-512 / AVX2 / baseline code at load time without -march.
#include <algorithm>
#include <cmath>
#include <limits>

#include "bricks/kernels.h"

#if defined(__x86_64__) && defined(__GNUC__) && defined(__linux__) && !defined(BRICKS_NO_CLONES)
#define BRICKS_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define BRICKS_CLONES
#endif

namespace bricks::kernels {
namespace {

template <class T>
inline void sigmoid_impl(const T* x, T* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    const T e = std::exp(-std::fabs(x[i]));  // in (0, 1]: never overflows
    const T r = T(1) / (T(1) + e);
    y[i] = x[i] >= T(0) ? r : e * r;
  }
}

template <class T>
inline void tanh_impl(const T* x, T* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
}

template <class T>
inline T row_max(const T* x, std::int64_t cols) {
  T m = x[0];
  for (std::int64_t j = 1; j < cols; ++j) m = std::max(m, x[j]);
  return m;
}

template <class T>
inline void softmax_impl(const T* x, T* y, std::int64_t rows, std::int64_t cols) {
  for (std::int64_t i = 0; i < rows; ++i) {
    const T* xi = x + i * cols;
    T* yi = y + i * cols;
    const T m = row_max(xi, cols);
    T s = 0;
    for (std::int64_t j = 0; j < cols; ++j) {
      yi[j] = std::exp(xi[j] - m);
      s += yi[j];
    }
    const T inv = T(1) / s;  // s >= 1: the max term is exp(0)
    for (std::int64_t j = 0; j < cols; ++j) yi[j] *= inv;
  }
}

template <class T>
inline void log_softmax_impl(const T* x, T* y, std::int64_t rows, std::int64_t cols) {
  for (std::int64_t i = 0; i < rows; ++i) {
    const T* xi = x + i * cols;
    T* yi = y + i * cols;
    const T m = row_max(xi, cols);
    T s = 0;
    // y = (x - m) - log s, never x - (m + log s): at logits of 1e4 the latter
    // loses every digit float32 has below 1e-3.
    for (std::int64_t j = 0; j < cols; ++j) {
      yi[j] = xi[j] - m;
      s += std::exp(yi[j]);
    }
    const T ls = std::log(s);
    for (std::int64_t j = 0; j < cols; ++j) yi[j] -= ls;
  }
}

template <class T>
inline void exp_impl(const T* x, T* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = std::exp(x[i]);
}

template <class T>
inline void log_clamped_impl(const T* x, T* y, std::int64_t n) {
  // log(0) would be -inf (undefined under fast-math): floor the argument instead,
  // then clamp as PyTorch does.
  const T tiny = std::numeric_limits<T>::denorm_min();  // log of it is below -100
  for (std::int64_t i = 0; i < n; ++i) {
    const T l = std::log(std::max(x[i], tiny));
    y[i] = x[i] > T(0) ? std::max(l, T(-100)) : T(-100);
  }
}

template <class T>
inline void log1p_exp_neg_abs_impl(const T* x, T* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = std::log1p(std::exp(-std::fabs(x[i])));
}

}  // namespace

#define BRICKS_BOTH(DECL_F, DECL_D, CALL) \
  BRICKS_CLONES DECL_F { CALL; }          \
  BRICKS_CLONES DECL_D { CALL; }

BRICKS_BOTH(void sigmoid(const float* x, float* y, std::int64_t n),
            void sigmoid(const double* x, double* y, std::int64_t n), sigmoid_impl(x, y, n))
BRICKS_BOTH(void tanh(const float* x, float* y, std::int64_t n),
            void tanh(const double* x, double* y, std::int64_t n), tanh_impl(x, y, n))
BRICKS_BOTH(void softmax_rows(const float* x, float* y, std::int64_t r, std::int64_t c),
            void softmax_rows(const double* x, double* y, std::int64_t r, std::int64_t c),
            softmax_impl(x, y, r, c))
BRICKS_BOTH(void log_softmax_rows(const float* x, float* y, std::int64_t r, std::int64_t c),
            void log_softmax_rows(const double* x, double* y, std::int64_t r, std::int64_t c),
            log_softmax_impl(x, y, r, c))
BRICKS_BOTH(void exp(const float* x, float* y, std::int64_t n),
            void exp(const double* x, double* y, std::int64_t n), exp_impl(x, y, n))
BRICKS_BOTH(void log_clamped(const float* x, float* y, std::int64_t n),
            void log_clamped(const double* x, double* y, std::int64_t n), log_clamped_impl(x, y, n))
BRICKS_BOTH(void log1p_exp_neg_abs(const float* x, float* y, std::int64_t n),
            void log1p_exp_neg_abs(const double* x, double* y, std::int64_t n),
            log1p_exp_neg_abs_impl(x, y, n))

}  // namespace bricks::kernels
