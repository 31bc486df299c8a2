// Vectorised transcendental kernels (exp/log/tanh). One source file is compiled
// with -ffast-math once per instruction-set path (baseline x86-64, x86-64-v3 "avx2",
// x86-64-v4 "avx512"; see CMakeLists.txt), so they must only ever see finite
// inputs: callers validate first. Every path agrees with the correctly rounded
// result within a few ulp (tests/test_kernels.py states the bounds) and exactly
// where the function saturates (sigmoid, tanh, softmax at |x| >= 17 in float32).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace bricks::kernels {

enum class Isa { baseline = 0, avx2 = 1, avx512 = 2 };
const char* isa_name(Isa isa);
bool isa_supported(Isa isa);       // whether this CPU (and OS) runs the path
std::vector<Isa> isa_available();  // in increasing order
Isa active_isa();
// "auto" (the best available), "baseline", "avx2" or "avx512". Throws ValueError,
// naming what the CPU has, for a path it lacks: never an illegal instruction.
Isa set_isa(const std::string& name);
Isa parse_isa(const std::string& name);  // the three names above; ValueError otherwise
// Pretend the CPU has no path above `isa` (tests of the refusal on any machine).
void cap_isa(Isa isa);

// y = 1 / (1 + exp(-x)), computed without overflow for any finite x.
void sigmoid(const float* x, float* y, std::int64_t n);
void sigmoid(const double* x, double* y, std::int64_t n);
// y = tanh(x)
void tanh(const float* x, float* y, std::int64_t n);
void tanh(const double* x, double* y, std::int64_t n);
// Row-wise softmax and log-softmax, max-shifted (stable for any finite input).
void softmax_rows(const float* x, float* y, std::int64_t rows, std::int64_t cols);
void softmax_rows(const double* x, double* y, std::int64_t rows, std::int64_t cols);
void log_softmax_rows(const float* x, float* y, std::int64_t rows, std::int64_t cols);
void log_softmax_rows(const double* x, double* y, std::int64_t rows, std::int64_t cols);
// y = exp(x)
void exp(const float* x, float* y, std::int64_t n);
void exp(const double* x, double* y, std::int64_t n);
// y = max(log(x), -100): PyTorch's clamp, so that log(0) stays finite.
void log_clamped(const float* x, float* y, std::int64_t n);
void log_clamped(const double* x, double* y, std::int64_t n);
// y = log(1 + exp(-|x|)), the stable part of softplus.
void log1p_exp_neg_abs(const float* x, float* y, std::int64_t n);
void log1p_exp_neg_abs(const double* x, double* y, std::int64_t n);

// The activations below take the input x (their backward too: dx from x and dy).
// float32 is computed in float64 and rounded once; alpha, beta and threshold are
// rounded to the element type first, as PyTorch does.
// ELU: y = x if x > 0, else alpha (exp(x) - 1);  dx = dy if x > 0, else dy alpha exp(x).
void elu(const float* x, float* y, std::int64_t n, double alpha);
void elu(const double* x, double* y, std::int64_t n, double alpha);
void elu_backward(const float* x, const float* dy, float* dx, std::int64_t n, double alpha);
void elu_backward(const double* x, const double* dy, double* dx, std::int64_t n, double alpha);
// GELU: y = x Phi(x) (the normal CDF, through erfc);  dx = dy (Phi(x) + x phi(x)).
void gelu(const float* x, float* y, std::int64_t n);
void gelu(const double* x, double* y, std::int64_t n);
void gelu_backward(const float* x, const float* dy, float* dx, std::int64_t n);
void gelu_backward(const double* x, const double* dy, double* dx, std::int64_t n);
// GELU, tanh approximation: y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
void gelu_tanh(const float* x, float* y, std::int64_t n);
void gelu_tanh(const double* x, double* y, std::int64_t n);
void gelu_tanh_backward(const float* x, const float* dy, float* dx, std::int64_t n);
void gelu_tanh_backward(const double* x, const double* dy, double* dx, std::int64_t n);
// Softplus: y = x where beta x > threshold, else log(1 + exp(beta x)) / beta;
// dx = dy there, else dy sigmoid(beta x).
void softplus(const float* x, float* y, std::int64_t n, double beta, double threshold);
void softplus(const double* x, double* y, std::int64_t n, double beta, double threshold);
void softplus_backward(const float* x, const float* dy, float* dx, std::int64_t n, double beta,
                       double threshold);
void softplus_backward(const double* x, const double* dy, double* dx, std::int64_t n, double beta,
                       double threshold);

// Columns [j0, j1) of act(X W^T + b), the small-M product (fused_linear.h says more).
void linear_rows(const float* X, std::int64_t M, std::int64_t K, const float* W, const float* b,
                 float* Y, std::int64_t N, std::int64_t j0, std::int64_t j1, int act);
void linear_rows(const double* X, std::int64_t M, std::int64_t K, const double* W, const double* b,
                 double* Y, std::int64_t N, std::int64_t j0, std::int64_t j1, int act);
// Columns [k0, k1) of dY W, Linear's input gradient at small M (fused_linear.h).
void linear_input_grad(const float* dY, std::int64_t M, std::int64_t N, const float* W, float* dX,
                       std::int64_t K, std::int64_t k0, std::int64_t k1);
void linear_input_grad(const double* dY, std::int64_t M, std::int64_t N, const double* W,
                       double* dX, std::int64_t K, std::int64_t k0, std::int64_t k1);

}  // namespace bricks::kernels
