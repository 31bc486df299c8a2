#include "bricks/blocks/bce_loss.h"

#include <algorithm>
#include <sstream>

#include "bricks/kernels.h"

namespace bricks {

BCELoss::BCELoss(DType dtype) : Loss(dtype) {
  log_p_.set_dtype(dtype);
  log_q_.set_dtype(dtype);
}

void BCELoss::do_forward(const Tensor* in, const Tensor& out) {
  dispatch_float(dtype_, [&](auto zero) {
    using T = decltype(zero);
    const T* p = in[0].ptr<T>();
    const T* t = in[1].ptr<T>();
    const std::int64_t n = in[0].size();
    for (std::int64_t i = 0; i < n; ++i)
      if (!(p[i] >= T(0) && p[i] <= T(1))) {
        std::ostringstream s;
        s << "predictions must be probabilities in [0, 1] (use BCEWithLogitsLoss for logits), got "
          << p[i] << " at flat index " << i;
        fail(s.str());
      }
    take_sample_weight(in[0].rows);
    p_ = in[0];
    t_ = in[1];
    log_p_.resize(p_.rows, p_.cols);
    log_q_.resize(p_.rows, p_.cols);
    T* lp = log_p_.ptr<T>();
    T* lq = log_q_.ptr<T>();
    for (std::int64_t i = 0; i < n; ++i) lq[i] = T(1) - p[i];
    kernels::log_clamped(p, lp, n);
    kernels::log_clamped(lq, lq, n);
    double s = 0;
    for (std::int64_t i = 0; i < p_.rows; ++i) {
      double r = 0;
      for (std::int64_t j = i * p_.cols, e = j + p_.cols; j < e; ++j)
        r += static_cast<double>(t[j]) * lp[j] + (1.0 - static_cast<double>(t[j])) * lq[j];
      s += sample_weight(i) * r;
    }
    set_value(-s / static_cast<double>(p_.rows), out);
  });
}

void BCELoss::do_backward(const Tensor& dy, Tensor* din) {
  dispatch_float(dtype_, [&](auto zero) {
    using T = decltype(zero);
    const T k = dy.ptr<T>()[0] / static_cast<T>(p_.rows);
    const T* p = p_.ptr<T>();
    const T* t = t_.ptr<T>();
    const T* lp = log_p_.ptr<T>();
    const T* lq = log_q_.ptr<T>();
    const std::int64_t n = p_.size();
    if (din[0])
      for (std::int64_t i = 0; i < n; ++i)
        din[0].ptr<T>()[i] = k * (p[i] - t[i]) / std::max(p[i] * (T(1) - p[i]), T(1e-12));
    if (din[1])
      for (std::int64_t i = 0; i < n; ++i) din[1].ptr<T>()[i] = k * (lq[i] - lp[i]);
    if (weighted_) scale_rows(din, 2);
  });
}

}  // namespace bricks
