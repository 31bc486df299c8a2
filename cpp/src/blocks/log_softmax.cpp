#include "bricks/blocks/log_softmax.h"

#include "bricks/kernels.h"

namespace bricks {

void LogSoftmax::do_forward(const Tensor* in, const Tensor& out) {
  y_ = out;
  dispatch_float(dtype_, [&](auto zero) {
    using T = decltype(zero);
    kernels::log_softmax_rows(in[0].ptr<T>(), out.ptr<T>(), out.rows, out.cols);
  });
}

void LogSoftmax::do_backward(const Tensor& dy, Tensor* din) {
  if (!din[0]) return;
  dispatch_float(dtype_, [&](auto zero) {
    using T = decltype(zero);
    const std::int64_t C = dy.cols;
    T* dx = din[0].ptr<T>();
    kernels::exp(y_.ptr<T>(), dx, dy.size());  // dx = softmax(x), then gate it
    for (std::int64_t i = 0; i < dy.rows; ++i) {
      const T* g = dy.ptr<T>() + i * C;
      T* d = dx + i * C;
      T s = 0;
      for (std::int64_t j = 0; j < C; ++j) s += g[j];
      for (std::int64_t j = 0; j < C; ++j) d[j] = g[j] - d[j] * s;
    }
  });
}

}  // namespace bricks
