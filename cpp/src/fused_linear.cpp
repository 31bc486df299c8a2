#include "bricks/fused_linear.h"

#include <atomic>
#include <string>

#include "bricks/blas.h"
#include "bricks/errors.h"
#include "bricks/kernels.h"
#include "bricks/parallel.h"

namespace bricks {
namespace {

// Measured with bench/inference_speed.py (--small-m): up to 16 rows the kernel beats
// OpenBLAS on 784-256-256-10 and 784-2048-2048-10; beyond, GEMM's tiling wins.
std::atomic<std::int64_t> g_small_m{16};

// Below this many multiply-adds a second thread costs more than it saves.
constexpr std::int64_t kParallelWork = 1 << 17;
// A chunk of output columns: a multiple of the kernel's 16-column block, with at
// least this much work so that taking a chunk costs little beside computing it.
constexpr std::int64_t kChunkWork = 1 << 15;

template <class T>
void apply(T* Y, std::int64_t n, Act act) {
  if (act == Act::relu)
    for (std::int64_t i = 0; i < n; ++i) Y[i] = Y[i] > T(0) ? Y[i] : T(0);
  else if (act == Act::sigmoid)
    kernels::sigmoid(Y, Y, n);
  else if (act == Act::tanh)
    kernels::tanh(Y, Y, n);
}

template <class T>
void forward(const T* X, std::int64_t M, std::int64_t K, const T* W, const T* b, std::int64_t N,
             T* Y, Act act) {
  if (M <= 0 || N <= 0) return;
  if (M > g_small_m.load(std::memory_order_relaxed) || K == 0) {
    T beta = T(0);
    if (b) {  // start from the bias, then let GEMM add X W^T (beta = 1)
      for (std::int64_t i = 0; i < M; ++i)
        for (std::int64_t j = 0; j < N; ++j) Y[i * N + j] = b[j];
      beta = T(1);
    }
    gemm(false, true, M, N, K, T(1), X, K, W, K, beta, Y, N);
    apply(Y, M * N, act);
    return;
  }
  const std::int64_t work = M * N * K;
  const int threads = work >= kParallelWork ? get_num_threads() : 1;
  if (threads <= 1) {
    kernels::linear_rows(X, M, K, W, b, Y, N, 0, N, static_cast<int>(act));
    return;
  }
  std::int64_t cols = (kChunkWork / (M * K) + 15) / 16 * 16;
  if (cols < 16) cols = 16;
  const std::int64_t chunks = (N + cols - 1) / cols;
  auto run = [&](std::int64_t c) {
    const std::int64_t j0 = c * cols, j1 = j0 + cols < N ? j0 + cols : N;
    kernels::linear_rows(X, M, K, W, b, Y, N, j0, j1, static_cast<int>(act));
  };
  parallel_chunks(chunks, threads, run);
}

template <class T>
void input_grad(const T* dY, std::int64_t M, std::int64_t N, const T* W, std::int64_t K, T* dX) {
  if (M <= 0 || K <= 0) return;
  if (M > g_small_m.load(std::memory_order_relaxed)) {
    gemm(false, false, M, K, N, T(1), dY, N, W, K, T(0), dX, K);
    return;
  }
  const std::int64_t work = M * N * K;
  const int threads = work >= kParallelWork ? get_num_threads() : 1;
  if (threads <= 1) {
    kernels::linear_input_grad(dY, M, N, W, dX, K, 0, K);
    return;
  }
  std::int64_t cols = (kChunkWork / (M * (N > 0 ? N : 1)) + 15) / 16 * 16;
  if (cols < 16) cols = 16;
  const std::int64_t chunks = (K + cols - 1) / cols;
  auto run = [&](std::int64_t c) {
    const std::int64_t k0 = c * cols, k1 = k0 + cols < K ? k0 + cols : K;
    kernels::linear_input_grad(dY, M, N, W, dX, K, k0, k1);
  };
  parallel_chunks(chunks, threads, run);
}

}  // namespace

void linear_backward_input(const float* dY, std::int64_t M, std::int64_t N, const float* W,
                           std::int64_t K, float* dX) {
  input_grad(dY, M, N, W, K, dX);
}
void linear_backward_input(const double* dY, std::int64_t M, std::int64_t N, const double* W,
                           std::int64_t K, double* dX) {
  input_grad(dY, M, N, W, K, dX);
}

void linear_forward(const float* X, std::int64_t M, std::int64_t K, const float* W, const float* b,
                    std::int64_t N, float* Y, Act act) {
  forward(X, M, K, W, b, N, Y, act);
}
void linear_forward(const double* X, std::int64_t M, std::int64_t K, const double* W,
                    const double* b, std::int64_t N, double* Y, Act act) {
  forward(X, M, K, W, b, N, Y, act);
}

std::int64_t small_m_limit() { return g_small_m.load(); }
void set_small_m_limit(std::int64_t m) {
  if (m < 0) throw ValueError("small_m_limit: expected m >= 0, got " + std::to_string(m));
  g_small_m.store(m);
}

}  // namespace bricks
