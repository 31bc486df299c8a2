#include "bricks/optim.h"

#include <cmath>
#include <set>
#include <sstream>

namespace bricks {
namespace {
void check_hyper(const char* what, double v, bool positive = false) {
  if (!std::isfinite(v) || v < 0.0 || (positive && v == 0.0)) {
    std::ostringstream s;
    s << "SGD: " << what << " must be a finite number " << (positive ? "> 0" : ">= 0") << ", got "
      << v;
    throw ValueError(s.str());
  }
}
}  // namespace

SGD::SGD(std::vector<Param> params, double lr, double momentum, double dampening,
         double weight_decay, bool nesterov)
    : lr_(lr), momentum_coef_(momentum), dampening_(dampening), weight_decay_(weight_decay),
      nesterov_(nesterov) {
  check_hyper("lr", lr);
  check_hyper("momentum", momentum);
  check_hyper("dampening", dampening);
  check_hyper("weight_decay", weight_decay);
  if (nesterov && (momentum <= 0.0 || dampening != 0.0))
    throw ValueError("SGD: nesterov momentum requires momentum > 0 and dampening = 0");
  std::set<const Buffer*> seen;
  for (auto& p : params)
    if (seen.insert(p.value.get()).second) params_.push_back(p);
}

void SGD::set_lr(double lr) {
  check_hyper("lr", lr);
  lr_ = lr;
}

void SGD::step() {
  const bool use_momentum = momentum_coef_ != 0.0;
  if (use_momentum && momentum_.size() != params_.size()) {
    momentum_.resize(params_.size());
    for (std::size_t i = 0; i < params_.size(); ++i) {
      momentum_[i].set_dtype(params_[i].value->dtype());
      momentum_[i].resize(params_[i].value->shape().rows, params_[i].value->shape().cols);
    }
  }
  for (std::size_t k = 0; k < params_.size(); ++k) {
    auto& p = params_[k];
    dispatch_float(p.value->dtype(), [&](auto zero) {
      using T = decltype(zero);
      T* w = p.value->ptr<T>();
      const T* g = p.grad->ptr<T>();
      const std::int64_t n = p.value->size();
      const T lr = T(lr_), wd = T(weight_decay_), mu = T(momentum_coef_),
              damp = T(1.0 - dampening_);
      if (!use_momentum) {
        if (wd == T(0))
          for (std::int64_t i = 0; i < n; ++i) w[i] -= lr * g[i];
        else
          for (std::int64_t i = 0; i < n; ++i) w[i] -= lr * (g[i] + wd * w[i]);
        return;
      }
      T* buf = momentum_[k].ptr<T>();
      const bool first = steps_ == 0;
      for (std::int64_t i = 0; i < n; ++i) {
        T d = g[i] + wd * w[i];
        buf[i] = first ? d : mu * buf[i] + damp * d;
        w[i] -= lr * (nesterov_ ? d + mu * buf[i] : buf[i]);
      }
    });
  }
  ++steps_;
}

void SGD::zero_grad() {
  for (auto& p : params_) p.grad->fill_zero();
}

}  // namespace bricks
