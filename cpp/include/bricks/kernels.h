// Vectorised transcendental kernels (exp/log/tanh). They live in one source file
// compiled with -ffast-math and per-CPU clones (see CMakeLists.txt), so they must
// only ever see finite inputs: callers validate first.
#pragma once
#include <cstdint>

namespace bricks::kernels {

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

}  // namespace bricks::kernels
