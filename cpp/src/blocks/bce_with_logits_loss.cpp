#include "bricks/blocks/bce_with_logits_loss.h"

#include <algorithm>

#include "bricks/kernels.h"

namespace bricks {

void BCEWithLogitsLoss::do_forward(const Tensor* in, const Tensor& out) {
  take_sample_weight(in[0].rows);
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
    for (std::int64_t i = 0; i < x_.rows; ++i) {
      double r = 0;
      for (std::int64_t j = i * x_.cols, e = j + x_.cols; j < e; ++j)
        r += static_cast<double>(std::max(x[j], T(0)) - x[j] * t[j]) + sp[j];
      s += sample_weight(i) * r;
    }
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
    if (weighted_) scale_rows(din, 2);
  });
}

}  // namespace bricks
