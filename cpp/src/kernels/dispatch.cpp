// Picks the instruction-set path of the transcendental kernels: the best the CPU
// runs, or the one set_isa asks for (BRICKS_ISA at import). Never compiled with
// -ffast-math or -march: it must run on any x86-64.
#include <atomic>
#include <string>

#include "bricks/errors.h"
#include "bricks/kernels.h"
#include "kernel_table.h"

namespace bricks::kernels {
namespace {

const Table* table_of(Isa isa) {
  switch (isa) {
#if defined(BRICKS_HAVE_ISA_CLONES)
    case Isa::avx512: return &isa_avx512::table;
    case Isa::avx2: return &isa_avx2::table;
#endif
    default: return &isa_baseline::table;
  }
}

Isa best() {
  for (Isa i : {Isa::avx512, Isa::avx2})
    if (isa_supported(i)) return i;
  return Isa::baseline;
}

std::atomic<Isa> g_isa{best()};
std::atomic<const Table*> g_table{table_of(g_isa.load())};

inline const Table& t() { return *g_table.load(std::memory_order_relaxed); }

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    default: return "baseline";
  }
}

namespace {
std::atomic<int> g_cap{static_cast<int>(Isa::avx512)};
}

void cap_isa(Isa isa) { g_cap.store(static_cast<int>(isa)); }

bool isa_supported(Isa isa) {
  if (isa == Isa::baseline) return true;
  if (static_cast<int>(isa) > g_cap.load()) return false;
#if defined(BRICKS_HAVE_ISA_CLONES)
  __builtin_cpu_init();
  // The same feature sets the -march levels the clones are built for require
  // (libgcc also checks that the OS saves the AVX / AVX-512 registers).
  if (isa == Isa::avx2) return __builtin_cpu_supports("x86-64-v3");
  if (isa == Isa::avx512) return __builtin_cpu_supports("x86-64-v4");
#endif
  return false;
}

std::vector<Isa> isa_available() {
  std::vector<Isa> out;
  for (Isa i : {Isa::baseline, Isa::avx2, Isa::avx512})
    if (isa_supported(i)) out.push_back(i);
  return out;
}

Isa active_isa() { return g_isa.load(); }

Isa parse_isa(const std::string& name) {
  if (name == "baseline") return Isa::baseline;
  if (name == "avx2") return Isa::avx2;
  if (name == "avx512") return Isa::avx512;
  throw ValueError("instruction-set path must be auto, baseline, avx2 or avx512, got '" + name +
                   "'");
}

Isa set_isa(const std::string& name) {
  const Isa want = name.empty() || name == "auto" ? best() : parse_isa(name);
  if (!isa_supported(want)) {
    std::string have;
    for (Isa i : isa_available()) have += std::string(have.empty() ? "" : ", ") + isa_name(i);
    throw ValueError(std::string("instruction-set path '") + isa_name(want) +
                     "' is not available on this CPU (it has: " + have + ")");
  }
  g_isa.store(want);
  g_table.store(table_of(want));
  return want;
}

void sigmoid(const float* x, float* y, std::int64_t n) { t().sigmoid_f(x, y, n); }
void sigmoid(const double* x, double* y, std::int64_t n) { t().sigmoid_d(x, y, n); }
void tanh(const float* x, float* y, std::int64_t n) { t().tanh_f(x, y, n); }
void tanh(const double* x, double* y, std::int64_t n) { t().tanh_d(x, y, n); }
void softmax_rows(const float* x, float* y, std::int64_t r, std::int64_t c) {
  t().softmax_f(x, y, r, c);
}
void softmax_rows(const double* x, double* y, std::int64_t r, std::int64_t c) {
  t().softmax_d(x, y, r, c);
}
void log_softmax_rows(const float* x, float* y, std::int64_t r, std::int64_t c) {
  t().log_softmax_f(x, y, r, c);
}
void log_softmax_rows(const double* x, double* y, std::int64_t r, std::int64_t c) {
  t().log_softmax_d(x, y, r, c);
}
void exp(const float* x, float* y, std::int64_t n) { t().exp_f(x, y, n); }
void exp(const double* x, double* y, std::int64_t n) { t().exp_d(x, y, n); }
void log_clamped(const float* x, float* y, std::int64_t n) { t().log_clamped_f(x, y, n); }
void log_clamped(const double* x, double* y, std::int64_t n) { t().log_clamped_d(x, y, n); }
void log1p_exp_neg_abs(const float* x, float* y, std::int64_t n) {
  t().log1p_exp_neg_abs_f(x, y, n);
}
void log1p_exp_neg_abs(const double* x, double* y, std::int64_t n) {
  t().log1p_exp_neg_abs_d(x, y, n);
}

void elu(const float* x, float* y, std::int64_t n, double a) { t().elu_f(x, y, n, a); }
void elu(const double* x, double* y, std::int64_t n, double a) { t().elu_d(x, y, n, a); }
void elu_backward(const float* x, const float* g, float* dx, std::int64_t n, double a) {
  t().elu_backward_f(x, g, dx, n, a);
}
void elu_backward(const double* x, const double* g, double* dx, std::int64_t n, double a) {
  t().elu_backward_d(x, g, dx, n, a);
}
void gelu(const float* x, float* y, std::int64_t n) { t().gelu_f(x, y, n); }
void gelu(const double* x, double* y, std::int64_t n) { t().gelu_d(x, y, n); }
void gelu_backward(const float* x, const float* g, float* dx, std::int64_t n) {
  t().gelu_backward_f(x, g, dx, n);
}
void gelu_backward(const double* x, const double* g, double* dx, std::int64_t n) {
  t().gelu_backward_d(x, g, dx, n);
}
void gelu_tanh(const float* x, float* y, std::int64_t n) { t().gelu_tanh_f(x, y, n); }
void gelu_tanh(const double* x, double* y, std::int64_t n) { t().gelu_tanh_d(x, y, n); }
void gelu_tanh_backward(const float* x, const float* g, float* dx, std::int64_t n) {
  t().gelu_tanh_backward_f(x, g, dx, n);
}
void gelu_tanh_backward(const double* x, const double* g, double* dx, std::int64_t n) {
  t().gelu_tanh_backward_d(x, g, dx, n);
}
void softplus(const float* x, float* y, std::int64_t n, double b, double th) {
  t().softplus_f(x, y, n, b, th);
}
void softplus(const double* x, double* y, std::int64_t n, double b, double th) {
  t().softplus_d(x, y, n, b, th);
}
void softplus_backward(const float* x, const float* g, float* dx, std::int64_t n, double b,
                       double th) {
  t().softplus_backward_f(x, g, dx, n, b, th);
}
void softplus_backward(const double* x, const double* g, double* dx, std::int64_t n, double b,
                       double th) {
  t().softplus_backward_d(x, g, dx, n, b, th);
}

void linear_rows(const float* X, std::int64_t M, std::int64_t K, const float* W, const float* b,
                 float* Y, std::int64_t N, std::int64_t j0, std::int64_t j1, int act) {
  t().linear_rows_f(X, M, K, W, b, Y, N, j0, j1, act);
}
void linear_rows(const double* X, std::int64_t M, std::int64_t K, const double* W, const double* b,
                 double* Y, std::int64_t N, std::int64_t j0, std::int64_t j1, int act) {
  t().linear_rows_d(X, M, K, W, b, Y, N, j0, j1, act);
}
void linear_input_grad(const float* dY, std::int64_t M, std::int64_t N, const float* W, float* dX,
                       std::int64_t K, std::int64_t k0, std::int64_t k1) {
  t().linear_input_grad_f(dY, M, N, W, dX, K, k0, k1);
}
void linear_input_grad(const double* dY, std::int64_t M, std::int64_t N, const double* W,
                       double* dX, std::int64_t K, std::int64_t k0, std::int64_t k1) {
  t().linear_input_grad_d(dY, M, N, W, dX, K, k0, k1);
}

}  // namespace bricks::kernels
