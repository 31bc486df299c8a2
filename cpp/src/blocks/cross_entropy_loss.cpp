#include "bricks/blocks/cross_entropy_loss.h"

#include "bricks/kernels.h"

namespace bricks {

Shape CrossEntropyLoss::infer_shape(const std::vector<Tensor>& in) const {
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
  t_ = in[1];
  dispatch_float(dtype_, [&](auto zero) {
    using T = decltype(zero);
    log_sm_.resize(N, C);
    T* ls = log_sm_.ptr<T>();
    kernels::log_softmax_rows(x.ptr<T>(), ls, N, C);
    double s = 0;
    if (labels) {
      const auto* y = t_.ptr<std::int64_t>();
      for (std::int64_t i = 0; i < N; ++i) s += ls[i * C + y[i]];
    } else {
      const T* t = t_.ptr<T>();
      for (std::int64_t i = 0, n = N * C; i < n; ++i) s += static_cast<double>(t[i]) * ls[i];
    }
    set_value(-s / static_cast<double>(N), out);
  });
}

void CrossEntropyLoss::do_backward(const Tensor& dy, Tensor* din) {
  const std::int64_t N = log_sm_.shape().rows, C = log_sm_.shape().cols;
  const bool labels = t_.dtype == DType::i64;
  dispatch_float(dtype_, [&](auto zero) {
    using T = decltype(zero);
    const T k = dy.ptr<T>()[0] / static_cast<T>(N);
    const T* ls = log_sm_.ptr<T>();
    if (din[0]) {
      T* dx = din[0].ptr<T>();
      kernels::exp(ls, dx, N * C);  // softmax(x)
      if (labels) {
        const auto* y = t_.ptr<std::int64_t>();
        for (std::int64_t i = 0; i < N * C; ++i) dx[i] *= k;
        for (std::int64_t i = 0; i < N; ++i) dx[i * C + y[i]] -= k;
      } else {
        const T* t = t_.ptr<T>();
        for (std::int64_t i = 0; i < N; ++i) {
          T rs = 0;
          for (std::int64_t j = 0; j < C; ++j) rs += t[i * C + j];
          for (std::int64_t j = 0; j < C; ++j)
            dx[i * C + j] = k * (dx[i * C + j] * rs - t[i * C + j]);
        }
      }
    }
    if (din[1] && !labels)
      for (std::int64_t i = 0; i < N * C; ++i) din[1].ptr<T>()[i] = -k * ls[i];
  });
}

}  // namespace bricks
