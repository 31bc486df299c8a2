#include "bricks/blocks/cross_entropy_loss.h"

#include <cmath>
#include <sstream>

#include "bricks/errors.h"
#include "bricks/kernels.h"

namespace bricks {

CrossEntropyLoss::CrossEntropyLoss(DType dtype, std::vector<double> weight)
    : Loss(dtype), cw_(std::move(weight)) {
  log_sm_.set_dtype(dtype);
  bool any = cw_.empty();
  for (std::size_t c = 0; c < cw_.size(); ++c) {
    if (!(std::isfinite(cw_[c]) && cw_[c] >= 0)) {
      std::ostringstream s;
      s << "CrossEntropyLoss: class weights must be finite and >= 0, got " << cw_[c]
        << " for class " << c;
      throw ValueError(s.str());
    }
    any = any || cw_[c] > 0;
  }
  if (!any) throw ValueError("CrossEntropyLoss: class weights are all 0");
}

Shape CrossEntropyLoss::infer_shape(const std::vector<Tensor>& in) const {
  if (!cw_.empty() && static_cast<std::int64_t>(cw_.size()) != in[0].cols)
    fail("weight has " + std::to_string(cw_.size()) + " class weights but the prediction has " +
         std::to_string(in[0].cols) + " classes");
  if (in[1].dtype == DType::i64) {
    if (in[1].cols != 1 || in[1].rows != in[0].rows)
      fail("class labels must have shape (" + std::to_string(in[0].rows) + ",), got " +
           in[1].shape().str());
    return {1, 1};
  }
  return Loss::infer_shape(in);
}

void CrossEntropyLoss::do_forward(const Tensor* in, const Tensor& out) {
  const Tensor& x = in[0];
  const std::int64_t N = x.rows, C = x.cols;
  const bool labels = in[1].dtype == DType::i64;
  if (labels) {  // validate before touching any state
    const auto* y = in[1].ptr<std::int64_t>();
    for (std::int64_t i = 0; i < N; ++i)
      if (y[i] < 0 || y[i] >= C)
        fail("class label " + std::to_string(y[i]) + " at index " + std::to_string(i) +
             " is out of range [0, " + std::to_string(C) + ")");
  }
  take_sample_weight(N);
  t_ = in[1];
  dispatch_float(dtype_, [&](auto zero) {
    using T = decltype(zero);
    log_sm_.resize(N, C);
    T* ls = log_sm_.ptr<T>();
    kernels::log_softmax_rows(x.ptr<T>(), ls, N, C);
    double s = 0;
    z_ = static_cast<double>(N);
    if (labels) {
      const auto* y = t_.ptr<std::int64_t>();
      if (!cw_.empty()) {
        z_ = 0;
        for (std::int64_t i = 0; i < N; ++i) z_ += cw_[y[i]];
      }
      for (std::int64_t i = 0; i < N; ++i)
        s += sample_weight(i) * class_weight(y[i]) * ls[i * C + y[i]];
    } else {
      const T* t = t_.ptr<T>();
      for (std::int64_t i = 0; i < N; ++i) {
        double r = 0;
        for (std::int64_t j = 0; j < C; ++j)
          r += class_weight(j) * static_cast<double>(t[i * C + j]) * ls[i * C + j];
        s += sample_weight(i) * r;
      }
    }
    set_value(z_ > 0 ? -s / z_ : 0.0, out);  // a batch of weight-0 classes only: no loss
  });
}

void CrossEntropyLoss::do_backward(const Tensor& dy, Tensor* din) {
  const std::int64_t N = log_sm_.shape().rows, C = log_sm_.shape().cols;
  const bool labels = t_.dtype == DType::i64;
  dispatch_float(dtype_, [&](auto zero) {
    using T = decltype(zero);
    const T k = z_ > 0 ? dy.ptr<T>()[0] / static_cast<T>(z_) : T(0);
    const T* ls = log_sm_.ptr<T>();
    if (din[0]) {
      T* dx = din[0].ptr<T>();
      kernels::exp(ls, dx, N * C);  // softmax(x)
      if (labels) {
        const auto* y = t_.ptr<std::int64_t>();
        for (std::int64_t i = 0; i < N; ++i) {
          const T ki = k * static_cast<T>(class_weight(y[i]));
          for (std::int64_t j = 0; j < C; ++j) dx[i * C + j] *= ki;
          dx[i * C + y[i]] -= ki;
        }
      } else {
        const T* t = t_.ptr<T>();
        for (std::int64_t i = 0; i < N; ++i) {
          T rs = 0;
          for (std::int64_t j = 0; j < C; ++j) rs += static_cast<T>(class_weight(j)) * t[i * C + j];
          for (std::int64_t j = 0; j < C; ++j)
            dx[i * C + j] =
                k * (dx[i * C + j] * rs - static_cast<T>(class_weight(j)) * t[i * C + j]);
        }
      }
    }
    if (din[1] && !labels) {
      T* dt = din[1].ptr<T>();
      for (std::int64_t i = 0; i < N; ++i)
        for (std::int64_t j = 0; j < C; ++j)
          dt[i * C + j] = -k * static_cast<T>(class_weight(j)) * ls[i * C + j];
    }
    if (weighted_) scale_rows(din, labels ? 1 : 2);
  });
}

}  // namespace bricks
