// The product of Linear, with its bias and (in inference) the following activation:
//   Y = act(X W^T + b),  X (M, K), W (N, K) as Linear stores it, b (N) or null, Y (M, N),
// all row-major and contiguous.
// For M up to small_m_limit() a kernel of our own (kernels/math_kernels.cpp, one copy
// per instruction-set path) reads each weight row once for all M rows, adds the bias
// and applies the activation in its epilogue, split over get_num_threads() threads by
// output columns (parallel.h). Larger M goes to OpenBLAS's GEMM. The two agree to
// rounding: each output is one dot product of length K summed in another order, so
// |difference| <= K eps (|X| |W|^T + |b|) elementwise (eps of the dtype).
#pragma once
#include <cstdint>

namespace bricks {

enum class Act { none = 0, relu = 1, sigmoid = 2, tanh = 3 };

void linear_forward(const float* X, std::int64_t M, std::int64_t K, const float* W, const float* b,
                    std::int64_t N, float* Y, Act act);
void linear_forward(const double* X, std::int64_t M, std::int64_t K, const double* W,
                    const double* b, std::int64_t N, double* Y, Act act);

// Linear's input gradient dX = dY W, dY (M, N), W (N, K), dX (M, K): for M up to
// small_m_limit() a kernel that reads each weight once for all M rows (OpenBLAS's GEMM
// would pack all of W for a few rows), split by columns of dX; above it, GEMM. The two
// agree to rounding as the forward's do (a sum of N products in another order).
void linear_backward_input(const float* dY, std::int64_t M, std::int64_t N, const float* W,
                           std::int64_t K, float* dX);
void linear_backward_input(const double* dY, std::int64_t M, std::int64_t N, const double* W,
                           std::int64_t K, double* dX);

// The largest batch that takes the small-M kernels (0: never); tests and benchmarks
// move it to compare the two paths.
std::int64_t small_m_limit();
void set_small_m_limit(std::int64_t m);

}  // namespace bricks
