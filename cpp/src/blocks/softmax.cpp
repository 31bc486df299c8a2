#include "bricks/blocks/softmax.h"

#include "bricks/kernels.h"

namespace bricks {

void Softmax::do_forward(const Tensor* in, const Tensor& out) {
  y_ = out;
  dispatch_float(dtype_, [&](auto zero) {
    using T = decltype(zero);
    kernels::softmax_rows(in[0].ptr<T>(), out.ptr<T>(), out.rows, out.cols);
  });
}

void Softmax::do_backward(const Tensor& dy, Tensor* din) {
  if (!din[0]) return;
  dispatch_float(dtype_, [&](auto zero) {
    using T = decltype(zero);
    const std::int64_t C = dy.cols;
    for (std::int64_t i = 0; i < dy.rows; ++i) {
      const T* y = y_.ptr<T>() + i * C;
      const T* g = dy.ptr<T>() + i * C;
      T* dx = din[0].ptr<T>() + i * C;
      T dot = 0;
      for (std::int64_t j = 0; j < C; ++j) dot += g[j] * y[j];
      for (std::int64_t j = 0; j < C; ++j) dx[j] = y[j] * (g[j] - dot);
    }
  });
}

}  // namespace bricks
