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
inline double expm1_(double v) { return expm1(v); }
inline double erfc_(double v) { return erfc(v); }
template <class T>
inline T max_(T a, T b) {
  return a > b ? a : b;
}
template <class T>
inline T min_(T a, T b) {
  return a < b ? a : b;
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

// ELU, GELU and Softplus compute in float64 whatever T is: the float32 result is then
// rounded once (within 1 ulp), and GELU's tails keep their digits (x Phi(x) at x = -10
// is 7.6e-23, which 0.5 x (1 + erf(x / sqrt 2)) in float32 loses to cancellation).
// Arguments are clamped where the function has saturated, so nothing overflows.
constexpr double kSqrtHalf = 0.70710678118654752440;    // 1 / sqrt(2)
constexpr double kInvSqrt2Pi = 0.39894228040143267794;  // 1 / sqrt(2 pi)
constexpr double kSqrt2OverPi = 0.79788456080286535588;
constexpr double kKappa = 0.044715;

template <class T>
void elu_impl(const T* x, T* y, int64_t n, double alpha) {
  const double a = static_cast<T>(alpha);  // rounded to T, as PyTorch takes it
  for (int64_t i = 0; i < n; ++i) {
    const double v = x[i];
    const double e = a * expm1_(min_(v, 0.0));
    y[i] = static_cast<T>(v > 0.0 ? v : e);
  }
}

template <class T>
void elu_backward_impl(const T* x, const T* g, T* dx, int64_t n, double alpha) {
  const double a = static_cast<T>(alpha);
  for (int64_t i = 0; i < n; ++i) {
    const double v = x[i], gi = g[i];
    const double d = gi * a * exp_(min_(v, 0.0));  // alpha at x = 0 (PyTorch's choice)
    dx[i] = static_cast<T>(v > 0.0 ? gi : d);
  }
}

inline double clamp40_(double v) { return max_(min_(v, 40.0), -40.0); }  // Phi(+-40) = 1, 0

template <class T>
void gelu_impl(const T* x, T* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double v = x[i];
    y[i] = static_cast<T>(v * (0.5 * erfc_(-clamp40_(v) * kSqrtHalf)));
  }
}

template <class T>
void gelu_backward_impl(const T* x, const T* g, T* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double v = x[i], c = clamp40_(v);
    const double cdf = 0.5 * erfc_(-c * kSqrtHalf), pdf = kInvSqrt2Pi * exp_(-0.5 * c * c);
    dx[i] = static_cast<T>(g[i] * (cdf + v * pdf));
  }
}

// The tanh approximation as a sigmoid: 0.5 (1 + tanh u) = sigmoid(2u), which has no
// cancellation for x < 0. Beyond |x| = 1e4, 2u is past +-1e10: saturated.
template <class T>
void gelu_tanh_impl(const T* x, T* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double v = x[i], c = max_(min_(v, 1e4), -1e4);
    const double w = 2.0 * kSqrt2OverPi * (c + kKappa * c * c * c);
    const double e = exp_(-fabs_(w)), r = 1.0 / (1.0 + e);
    y[i] = static_cast<T>(v * (w >= 0.0 ? r : e * r));
  }
}

template <class T>
void gelu_tanh_backward_impl(const T* x, const T* g, T* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double v = x[i], c = max_(min_(v, 1e4), -1e4);
    const double w = 2.0 * kSqrt2OverPi * (c + kKappa * c * c * c);
    const double e = exp_(-fabs_(w)), r = 1.0 / (1.0 + e);
    const double s = w >= 0.0 ? r : e * r, s1 = w >= 0.0 ? e * r : r;  // sigmoid(w), 1 - sigmoid(w)
    // d/dx [x s(w)] = s + x s (1 - s) dw/dx
    const double dw = 2.0 * kSqrt2OverPi * (1.0 + 3.0 * kKappa * c * c);
    dx[i] = static_cast<T>(g[i] * (s + v * s * s1 * dw));
  }
}

// z = beta x in T (PyTorch compares the T product with the threshold); softplus(z) =
// max(z, 0) + log1p(exp(-|z|)) never overflows, whatever the threshold.
template <class T>
void softplus_impl(const T* x, T* y, int64_t n, double beta, double threshold) {
  const T b = static_cast<T>(beta), t = static_cast<T>(threshold);
  const double bd = b;
  for (int64_t i = 0; i < n; ++i) {
    const T z = x[i] * b;
    const double zd = z;
    const double sp = (max_(zd, 0.0) + log1p_(exp_(-fabs_(zd)))) / bd;
    y[i] = z > t ? x[i] : static_cast<T>(sp);
  }
}

template <class T>
void softplus_backward_impl(const T* x, const T* g, T* dx, int64_t n, double beta,
                            double threshold) {
  const T b = static_cast<T>(beta), t = static_cast<T>(threshold);
  for (int64_t i = 0; i < n; ++i) {
    const T z = x[i] * b;
    const double zd = z;
    const double e = exp_(-fabs_(zd)), r = 1.0 / (1.0 + e);
    const double s = zd >= 0.0 ? r : e * r;  // sigmoid(beta x)
    dx[i] = z > t ? g[i] : static_cast<T>(g[i] * s);
  }
}

// The small-M product (fused_linear.h): each weight row is read from memory once for
// all M rows of X (a GEMM packs and tiles for large M; at M = 1 it is a GEMV that
// must stream W at memory bandwidth). GCC's generic vectors take this path's width:
// 16 bytes on baseline (SSE2), 32 on AVX2, 64 on AVX-512. JB weight rows by MB rows
// of X per tile keep JB*MB independent accumulators in registers.
#if defined(__AVX512F__)
#define BRICKS_VBYTES 64
#elif defined(__AVX2__)
#define BRICKS_VBYTES 32
#else
#define BRICKS_VBYTES 16
#endif
typedef float vf_ __attribute__((vector_size(BRICKS_VBYTES)));
typedef double vd_ __attribute__((vector_size(BRICKS_VBYTES)));
template <class T>
struct vec_;
template <>
struct vec_<float> {
  typedef vf_ type;
};
template <>
struct vec_<double> {
  typedef vd_ type;
};

template <class T>
inline typename vec_<T>::type vload_(const T* p) {
  typename vec_<T>::type v;
  __builtin_memcpy(&v, p, sizeof v);  // unaligned load
  return v;
}

template <class T, int JB, int MB>
inline void linear_tile(const T* X, int64_t K, const T* W, const T* b, T* Y, int64_t N, int64_t j,
                        int64_t m) {
  typedef typename vec_<T>::type V;
  constexpr int L = sizeof(V) / sizeof(T);
  V acc[JB][MB];
  for (int r = 0; r < JB; ++r)
    for (int c = 0; c < MB; ++c) acc[r][c] = V{};
  const T* w = W + j * K;
  const T* x = X + m * K;
  const int64_t Kv = K - K % L;
  for (int64_t k = 0; k < Kv; k += L) {
    V xv[MB];
    for (int c = 0; c < MB; ++c) xv[c] = vload_(x + c * K + k);
    for (int r = 0; r < JB; ++r) {
      const V wv = vload_(w + r * K + k);
      for (int c = 0; c < MB; ++c) acc[r][c] += wv * xv[c];
    }
  }
  for (int r = 0; r < JB; ++r)
    for (int c = 0; c < MB; ++c) {
      T s = 0;
      for (int l = 0; l < L; ++l) s += acc[r][c][l];
      for (int64_t k = Kv; k < K; ++k) s += w[r * K + k] * x[c * K + k];
      Y[(m + c) * N + j + r] = b ? s + b[j + r] : s;
    }
}

template <class T, int MB>
void linear_cols(const T* X, int64_t K, const T* W, const T* b, T* Y, int64_t N, int64_t j0,
                 int64_t j1, int64_t m) {
  constexpr int JB = MB == 1 ? 8 : 4;  // M = 1: more rows for enough accumulators
  int64_t j = j0;
  for (; j + JB <= j1; j += JB) linear_tile<T, JB, MB>(X, K, W, b, Y, N, j, m);
  for (; j < j1; ++j) linear_tile<T, 1, MB>(X, K, W, b, Y, N, j, m);
}

template <class T>
void linear_rows_impl(const T* X, int64_t M, int64_t K, const T* W, const T* b, T* Y, int64_t N,
                      int64_t j0, int64_t j1, int act) {
  // Output columns in blocks whose weight rows stay in cache while every pair of X
  // rows passes over them: W comes from memory once.
  constexpr int64_t kCols = 16;
  for (int64_t c0 = j0; c0 < j1; c0 += kCols) {
    const int64_t c1 = c0 + kCols < j1 ? c0 + kCols : j1;
    int64_t m = 0;
    for (; m + 2 <= M; m += 2) linear_cols<T, 2>(X, K, W, b, Y, N, c0, c1, m);
    if (m < M) linear_cols<T, 1>(X, K, W, b, Y, N, c0, c1, m);
  }
  // the epilogue: the activation on this chunk while it is still in cache (the same
  // kernels the separate blocks run, so fused and unfused agree exactly)
  for (int64_t m = 0; m < M; ++m) {
    T* y = Y + m * N + j0;
    const int64_t n = j1 - j0;
    if (act == 1)
      for (int64_t i = 0; i < n; ++i) y[i] = y[i] > T(0) ? y[i] : T(0);
    else if (act == 2)
      sigmoid_impl(y, y, n);
    else if (act == 3)
      tanh_impl(y, y, n);
  }
}

template <class T>
void linear_input_grad_impl(const T* dY, int64_t M, int64_t N, const T* W, T* dX, int64_t K,
                            int64_t k0, int64_t k1) {
  // Column blocks of dX that stay in L1 while every weight row passes: each weight is
  // read once for all M rows, each dX element summed over j in order (the same bits
  // however the columns are split among threads).
  constexpr int64_t kBlock = 512;
  for (int64_t m = 0; m < M; ++m)
    for (int64_t k = k0; k < k1; ++k) dX[m * K + k] = T(0);
  for (int64_t c0 = k0; c0 < k1; c0 += kBlock) {
    const int64_t c1 = c0 + kBlock < k1 ? c0 + kBlock : k1;
    for (int64_t j = 0; j < N; ++j) {
      const T* __restrict w = W + j * K;
      for (int64_t m = 0; m < M; ++m) {
        const T a = dY[m * N + j];
        T* __restrict d = dX + m * K;
        for (int64_t k = c0; k < c1; ++k) d[k] += a * w[k];
      }
    }
  }
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
    elu_impl<float>,
    elu_impl<double>,
    elu_backward_impl<float>,
    elu_backward_impl<double>,
    gelu_impl<float>,
    gelu_impl<double>,
    gelu_backward_impl<float>,
    gelu_backward_impl<double>,
    gelu_tanh_impl<float>,
    gelu_tanh_impl<double>,
    gelu_tanh_backward_impl<float>,
    gelu_tanh_backward_impl<double>,
    softplus_impl<float>,
    softplus_impl<double>,
    softplus_backward_impl<float>,
    softplus_backward_impl<double>,
    linear_rows_impl<float>,
    linear_rows_impl<double>,
    linear_input_grad_impl<float>,
    linear_input_grad_impl<double>,
};

}  // namespace bricks::kernels::BRICKS_KERNEL_NS
