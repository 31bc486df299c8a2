#include "bricks/blocks/mse_loss.h"

namespace bricks {

void MSELoss::do_forward(const Tensor* in, const Tensor& out) {
  take_sample_weight(in[0].rows);
  x_ = in[0];
  t_ = in[1];
  dispatch_float(dtype_, [&](auto zero) {
    using T = decltype(zero);
    const T* x = x_.ptr<T>();
    const T* t = t_.ptr<T>();
    double s = 0;
    for (std::int64_t i = 0; i < x_.rows; ++i) {
      double r = 0;
      for (std::int64_t j = i * x_.cols, e = j + x_.cols; j < e; ++j) {
        const double d = static_cast<double>(x[j]) - static_cast<double>(t[j]);
        r += d * d;
      }
      s += sample_weight(i) * r;
    }
    set_value(s / static_cast<double>(x_.rows), out);
  });
}

void MSELoss::do_backward(const Tensor& dy, Tensor* din) {
  dispatch_float(dtype_, [&](auto zero) {
    using T = decltype(zero);
    const T k = T(2) * dy.ptr<T>()[0] / static_cast<T>(x_.rows);
    const T* x = x_.ptr<T>();
    const T* t = t_.ptr<T>();
    const std::int64_t n = x_.size();
    if (din[0])
      for (std::int64_t i = 0; i < n; ++i) din[0].ptr<T>()[i] = k * (x[i] - t[i]);
    if (din[1])
      for (std::int64_t i = 0; i < n; ++i) din[1].ptr<T>()[i] = k * (t[i] - x[i]);
    if (weighted_) scale_rows(din, 2);
  });
}

}  // namespace bricks
