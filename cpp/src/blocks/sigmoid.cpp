#include "bricks/blocks/sigmoid.h"

#include "bricks/kernels.h"

namespace bricks {

void Sigmoid::do_forward(const Tensor* in, const Tensor& out) {
  y_ = out;
  dispatch_float(dtype_, [&](auto zero) {
    using T = decltype(zero);
    kernels::sigmoid(in[0].ptr<T>(), out.ptr<T>(), out.size());
  });
}

void Sigmoid::do_backward(const Tensor& dy, Tensor* din) {
  if (!din[0]) return;
  dispatch_float(dtype_, [&](auto zero) {
    using T = decltype(zero);
    const T* y = y_.ptr<T>();
    const T* g = dy.ptr<T>();
    T* dx = din[0].ptr<T>();
    for (std::int64_t i = 0, n = dy.size(); i < n; ++i) dx[i] = g[i] * y[i] * (T(1) - y[i]);
  });
}

}  // namespace bricks
