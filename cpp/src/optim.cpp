#include "bricks/optim.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>
#include <sstream>

#include "bricks/lock_set.h"

namespace bricks {

void Optimizer::check_hyper(const std::string& who, const char* what, double v, bool positive) {
  if (!std::isfinite(v) || v < 0.0 || (positive && v == 0.0)) {
    std::ostringstream s;
    s << who << ": " << what << " must be a finite number " << (positive ? "> 0" : ">= 0")
      << ", got " << v;
    throw ValueError(s.str());
  }
}

void Optimizer::set_owners(std::vector<std::shared_ptr<Block>> blocks) {
  std::vector<std::mutex*> ms;
  for (auto& b : blocks) ms.push_back(&b->mutex());
  owners_ = std::move(blocks);
  lock_order_ = bricks::lock_order(nullptr, std::move(ms));
}

Optimizer::Optimizer(std::vector<Param> params, double lr) : lr_(lr) {
  std::set<const Buffer*> seen;
  for (auto& p : params)
    if (seen.insert(p.value.get()).second) params_.push_back(p);
}

void Optimizer::set_lr(double lr) {
  check_hyper(name(), "lr", lr);
  lr_ = lr;
}

void Optimizer::set_clip_norm(double max_norm) {
  check_hyper(name(), "clip_norm", max_norm);
  clip_norm_ = max_norm;
}

double Optimizer::grad_norm() const {
  double s = 0;
  for (const auto& p : params_)
    dispatch_float(p.grad->dtype(), [&](auto zero) {
      using T = decltype(zero);
      const T* g = p.grad->ptr<T>();
      for (std::int64_t i = 0, n = p.grad->size(); i < n; ++i)
        s += static_cast<double>(g[i]) * g[i];
    });
  return std::sqrt(s);
}

namespace {
// |x| as the bits of its magnitude: an unsigned integer that orders like |x| (NaN
// and inf above every finite value), so max reductions vectorise without fast-math.
inline std::uint32_t mag_bits(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, 4);
  return u & 0x7fffffffu;
}
inline std::uint64_t mag_bits(double x) {
  std::uint64_t u;
  std::memcpy(&u, &x, 8);
  return u & 0x7fffffffffffffffull;
}
template <class U>
double from_bits(U u) {
  if constexpr (sizeof(U) == 4) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  } else {
    double d;
    std::memcpy(&d, &u, 8);
    return d;
  }
}

// max |x| over a buffer: inf or NaN when an element is. An integer max over magnitude
// bits, so the loop vectorises (a float max with NaN checks stays scalar: ~17% of a
// large training step when the guard scanned the gradients that way).
#if defined(__x86_64__) && defined(__GNUC__) && defined(__linux__) && !defined(BRICKS_NO_CLONES)
#define BRICKS_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define BRICKS_CLONES
#endif
BRICKS_CLONES double abs_max(const float* x, std::int64_t n) {
  std::uint32_t m = 0;
  for (std::int64_t i = 0; i < n; ++i) m = std::max(m, mag_bits(x[i]));
  return from_bits(m);
}
BRICKS_CLONES double abs_max(const double* x, std::int64_t n) {
  std::uint64_t m = 0;
  for (std::int64_t i = 0; i < n; ++i) m = std::max(m, mag_bits(x[i]));
  return from_bits(m);
}

// The update loops, compiled per instruction set (they run once per step over every
// parameter; at medium sizes baseline SSE2 code made the update 12% of a step).
template <class T>
[[gnu::always_inline]] inline void sgd_loop(T* w, const T* g, T* buf, std::int64_t n, T lr, T wd,
                                            T mu, T damp, bool first, bool nesterov, double& wmax,
                                            double& bmax) {
  using U = decltype(mag_bits(T(0)));
  U wm = 0, bm = 0;  // maxima for the guard, free in these memory-bound loops
  if (!buf) {
    for (std::int64_t i = 0; i < n; ++i) {
      w[i] -= lr * (g[i] + wd * w[i]);
      wm = std::max(wm, mag_bits(w[i]));
    }
  } else {
    for (std::int64_t i = 0; i < n; ++i) {
      const T d = g[i] + wd * w[i];
      buf[i] = first ? d : mu * buf[i] + damp * d;
      w[i] -= lr * (nesterov ? d + mu * buf[i] : buf[i]);
      wm = std::max(wm, mag_bits(w[i]));
      bm = std::max(bm, mag_bits(buf[i]));
    }
  }
  wmax = std::fmax(wmax, from_bits(wm));
  bmax = std::fmax(bmax, from_bits(bm));
}
BRICKS_CLONES void sgd_kernel(float* w, const float* g, float* buf, std::int64_t n, float lr,
                              float wd, float mu, float damp, bool first, bool nesterov,
                              double& wmax, double& bmax) {
  sgd_loop(w, g, buf, n, lr, wd, mu, damp, first, nesterov, wmax, bmax);
}
BRICKS_CLONES void sgd_kernel(double* w, const double* g, double* buf, std::int64_t n, double lr,
                              double wd, double mu, double damp, bool first, bool nesterov,
                              double& wmax, double& bmax) {
  sgd_loop(w, g, buf, n, lr, wd, mu, damp, first, nesterov, wmax, bmax);
}

template <class T>
[[gnu::always_inline]] inline void adam_loop(T* w, const T* g, T* m, T* v, std::int64_t n, T b1,
                                             T b2, T eps, T step, T inv_sqrt_bc2, T wd, T decay,
                                             bool decoupled, double& wmax, double& mmax,
                                             double& vmax) {
  using U = decltype(mag_bits(T(0)));
  U wm = 0, mm = 0, vm = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    T d = g[i];
    if (decoupled)
      w[i] *= decay;
    else
      d += wd * w[i];
    m[i] = b1 * m[i] + (T(1) - b1) * d;
    v[i] = b2 * v[i] + (T(1) - b2) * d * d;
    w[i] -= step * m[i] / (std::sqrt(v[i]) * inv_sqrt_bc2 + eps);
    wm = std::max(wm, mag_bits(w[i]));
    mm = std::max(mm, mag_bits(m[i]));
    vm = std::max(vm, mag_bits(v[i]));
  }
  wmax = std::fmax(wmax, from_bits(wm));
  mmax = std::fmax(mmax, from_bits(mm));
  vmax = std::fmax(vmax, from_bits(vm));
}
BRICKS_CLONES void adam_kernel(float* w, const float* g, float* m, float* v, std::int64_t n,
                               float b1, float b2, float eps, float step, float inv_sqrt_bc2,
                               float wd, float decay, bool decoupled, double& wmax, double& mmax,
                               double& vmax) {
  adam_loop(w, g, m, v, n, b1, b2, eps, step, inv_sqrt_bc2, wd, decay, decoupled, wmax, mmax, vmax);
}
BRICKS_CLONES void adam_kernel(double* w, const double* g, double* m, double* v, std::int64_t n,
                               double b1, double b2, double eps, double step, double inv_sqrt_bc2,
                               double wd, double decay, bool decoupled, double& wmax, double& mmax,
                               double& vmax) {
  adam_loop(w, g, m, v, n, b1, b2, eps, step, inv_sqrt_bc2, wd, decay, decoupled, wmax, mmax, vmax);
}

// Each row w with ||w|| > c becomes w c / ||w|| (rows within c are left alone). The
// norm is taken in float64; a float32 row that rounding leaves a hair above c is
// shrunk by an ulp more, so that ||w|| <= c holds for the stored values.
template <class T>
void max_norm_rows(T* w, std::int64_t rows, std::int64_t cols, double c) {
  auto norm = [cols](const T* r) {
    double s = 0.0;
    for (std::int64_t j = 0; j < cols; ++j) s += static_cast<double>(r[j]) * r[j];
    if (std::isfinite(s)) return std::sqrt(s);
    double m = 0.0;  // float64 weights beyond 1e154: the squares overflow, so scale first
    for (std::int64_t j = 0; j < cols; ++j) m = std::fmax(m, std::fabs(static_cast<double>(r[j])));
    if (!(m > 0.0) || !std::isfinite(m)) return s;  // NaN or inf weights: left to the guard
    s = 0.0;
    for (std::int64_t j = 0; j < cols; ++j) s += (r[j] / m) * (r[j] / m);
    return m * std::sqrt(s);
  };
  for (std::int64_t i = 0; i < rows; ++i) {
    T* r = w + i * cols;
    double n = norm(r);
    if (!(n > c)) continue;  // NaN rows too: the guard reports them, scaling cannot help
    double scale = c / n;
    for (int tries = 0; tries < 4 && n > c; ++tries) {
      for (std::int64_t j = 0; j < cols; ++j) r[j] = static_cast<T>(r[j] * scale);
      n = norm(r);
      scale = 1.0 - std::numeric_limits<T>::epsilon();
    }
  }
}

double buffer_max(const Buffer& b) {
  return dispatch_float(b.dtype(),
                        [&](auto zero) { return abs_max(b.ptr<decltype(zero)>(), b.size()); });
}
}  // namespace

double Optimizer::limit() const {
  const DType dt = params_.empty() ? DType::f64 : params_[0].value->dtype();
  return dt == DType::f32 ? 1e36 : 1e300;
}

void Optimizer::refresh_maxima() {
  bool finite = true;
  auto track = [&](double& acc, const Buffer& b) {
    const double v = buffer_max(b);
    finite = finite && std::isfinite(v);
    acc = std::max(acc, v);
  };
  wmax_ = smax_[0] = smax_[1] = 0.0;
  for (const auto& p : params_) track(wmax_, *p.value);
  const std::size_t per = params_.empty() ? 0 : state_.size() / params_.size();
  for (std::size_t i = 0; i < state_.size(); ++i) track(smax_[per ? i % per : 0], state_[i]);
  if (!finite) wmax_ = INFINITY;  // unknown: never provably safe, and values_finite() is false
}

double Optimizer::grad_max() const {
  double m = 0.0;
  for (const auto& p : params_) {
    const double g = buffer_max(*p.grad);
    if (!std::isfinite(g)) return g;
    m = std::fmax(m, g);
  }
  return m;
}

void Optimizer::step() {
  if (clip_norm_ > 0.0) {
    const double norm = grad_norm();
    if (norm > clip_norm_) {
      const double scale = clip_norm_ / (norm + 1e-6);
      for (auto& p : params_)
        dispatch_float(p.grad->dtype(), [&](auto zero) {
          using T = decltype(zero);
          T* g = p.grad->ptr<T>();
          for (std::int64_t i = 0, n = p.grad->size(); i < n; ++i) g[i] *= static_cast<T>(scale);
        });
    }
  }
  update();
  apply_max_norms();
  ++steps_;
}

void Optimizer::apply_max_norms() {
  for (auto& p : params_)
    if (p.max_norm > 0.0)
      dispatch_float(p.value->dtype(), [&](auto zero) {
        max_norm_rows(p.value->ptr<decltype(zero)>(), p.value->shape().rows, p.value->shape().cols,
                      p.max_norm);
      });
}

void Optimizer::zero_grad() {
  for (auto& p : params_) p.grad->fill_zero();
}

void Optimizer::ensure_state(int per_param) {
  if (state_.size() == params_.size() * per_param) return;
  state_.clear();
  state_.resize(params_.size() * per_param);
  for (std::size_t i = 0; i < state_.size(); ++i) {
    const Buffer& v = *params_[i / per_param].value;
    state_[i].set_dtype(v.dtype());
    state_[i].resize(v.shape().rows, v.shape().cols);
    state_[i].fill_zero();
  }
}

SGD::SGD(std::vector<Param> params, double lr, double momentum, double dampening,
         double weight_decay, bool nesterov)
    : Optimizer(std::move(params), lr),
      momentum_(momentum),
      dampening_(dampening),
      weight_decay_(weight_decay),
      nesterov_(nesterov) {
  check_hyper("SGD", "lr", lr);
  check_hyper("SGD", "momentum", momentum);
  check_hyper("SGD", "dampening", dampening);
  check_hyper("SGD", "weight_decay", weight_decay);
  if (nesterov && (momentum <= 0.0 || dampening != 0.0))
    throw ValueError("SGD: nesterov momentum requires momentum > 0 and dampening = 0");
  if (momentum > 0.0) ensure_state(1);
}

void SGD::update() {
  double wmax = 0.0, bmax = 0.0;
  for (std::size_t k = 0; k < params_.size(); ++k) {
    auto& p = params_[k];
    dispatch_float(p.value->dtype(), [&](auto zero) {
      using T = decltype(zero);
      T* buf = momentum_ != 0.0 ? state_[k].ptr<T>() : nullptr;
      sgd_kernel(p.value->ptr<T>(), p.grad->ptr<T>(), buf, p.value->size(), T(lr_),
                 T(weight_decay_), T(momentum_), T(1.0 - dampening_), steps_ == 0, nesterov_, wmax,
                 bmax);
    });
  }
  wmax_ = wmax;
  smax_[0] = bmax;
}

bool SGD::step_is_safe(double gmax) const {
  const double d = gmax + weight_decay_ * wmax_;
  const double buf = momentum_ * smax_[0] + d;
  const double w = wmax_ + lr_ * (d + momentum_ * buf);
  return std::isfinite(w) && std::fmax(w, buf) < limit();
}

Adam::Adam(std::vector<Param> params, double lr, double beta1, double beta2, double eps,
           double weight_decay, bool decoupled)
    : Optimizer(std::move(params), lr),
      beta1_(beta1),
      beta2_(beta2),
      eps_(eps),
      weight_decay_(weight_decay),
      decoupled_(decoupled) {
  const std::string who = decoupled ? "AdamW" : "Adam";
  check_hyper(who, "lr", lr);
  check_hyper(who, "eps", eps);
  check_hyper(who, "weight_decay", weight_decay);
  if (!(beta1 >= 0.0 && beta1 < 1.0) || !(beta2 >= 0.0 && beta2 < 1.0)) {
    std::ostringstream s;
    s << who << ": betas must be in [0, 1), got (" << beta1 << ", " << beta2 << ")";
    throw ValueError(s.str());
  }
  ensure_state(2);
}

void Adam::update() {
  const double t = static_cast<double>(steps_ + 1);
  const double bc1 = 1.0 - std::pow(beta1_, t), bc2 = 1.0 - std::pow(beta2_, t);
  double wmax = 0.0, mmax = 0.0, vmax = 0.0;
  for (std::size_t k = 0; k < params_.size(); ++k) {
    auto& p = params_[k];
    dispatch_float(p.value->dtype(), [&](auto zero) {
      using T = decltype(zero);
      adam_kernel(p.value->ptr<T>(), p.grad->ptr<T>(), state_[2 * k].ptr<T>(),
                  state_[2 * k + 1].ptr<T>(), p.value->size(), T(beta1_), T(beta2_), T(eps_),
                  T(lr_ / bc1), T(1.0 / std::sqrt(bc2)), T(weight_decay_),
                  T(1.0 - lr_ * weight_decay_), decoupled_, wmax, mmax, vmax);
    });
  }
  wmax_ = wmax;
  smax_[0] = mmax;
  smax_[1] = vmax;
}

bool Adam::step_is_safe(double gmax) const {
  if (eps_ <= 0.0) return false;  // the step size has no bound then
  const double bc1 = 1.0 - std::pow(beta1_, static_cast<double>(steps_ + 1));
  const double d = gmax + (decoupled_ ? 0.0 : weight_decay_ * wmax_);
  const double m = beta1_ * smax_[0] + (1.0 - beta1_) * d;
  const double v = beta2_ * smax_[1] + (1.0 - beta2_) * d * d;
  const double w = wmax_ * (1.0 + lr_ * weight_decay_) + lr_ / bc1 * m / eps_;
  return std::isfinite(w) && std::fmax(std::fmax(w, m), v) < limit();
}
}  // namespace bricks
