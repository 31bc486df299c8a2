#include "bricks/blocks/bce_with_logits_loss.h"

#include <algorithm>

#include "bricks/kernels.h"

namespace bricks {

void BCEWithLogitsLoss::do_forward(const Tensor* in, const Tensor& out) {
  x_ = in[0];
  t_ = in[1];
  dispatch_float(dtype_, [&](auto zero) {
    using T = decltype(zero);
    const std::int64_t n = x_.size();
    scratch_.resize(x_.rows, x_.cols);
    T* sp = scratch_.ptr<T>();
    const T* x = x_.ptr<T>();
    const T* t = t_.ptr<T>();
    kernels::log1p_exp_neg_abs(x, sp, n);
    double s = 0;
    for (std::int64_t i = 0; i < n; ++i)
      s += static_cast<double>(std::max(x[i], T(0)) - x[i] * t[i]) + sp[i];
    set_value(s / static_cast<double>(x_.rows), out);
  });
}

void BCEWithLogitsLoss::do_backward(const Tensor& dy, Tensor* din) {
  dispatch_float(dtype_, [&](auto zero) {
    using T = decltype(zero);
    const T k = dy.ptr<T>()[0] / static_cast<T>(x_.rows);
    const T* x = x_.ptr<T>();
    const T* t = t_.ptr<T>();
    const std::int64_t n = x_.size();
    if (din[0]) {
      T* dx = din[0].ptr<T>();
      kernels::sigmoid(x, dx, n);
      for (std::int64_t i = 0; i < n; ++i) dx[i] = k * (dx[i] - t[i]);
    }
    if (din[1])
      for (std::int64_t i = 0; i < n; ++i) din[1].ptr<T>()[i] = -k * x[i];
  });
}

}  // namespace bricks
