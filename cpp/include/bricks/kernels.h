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

}  // namespace bricks::kernels
