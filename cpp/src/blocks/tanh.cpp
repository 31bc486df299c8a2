#include "bricks/blocks/tanh.h"

#include "bricks/kernels.h"

namespace bricks {

void Tanh::do_forward(const Tensor* in, const Tensor& out) {
  y_ = out;
  dispatch_float(dtype_, [&](auto zero) {
    using T = decltype(zero);
    kernels::tanh(in[0].ptr<T>(), out.ptr<T>(), out.size());
  });
}

void Tanh::do_backward(const Tensor& dy, Tensor* din) {
  if (!din[0]) return;
  dispatch_float(dtype_, [&](auto zero) {
    using T = decltype(zero);
    const T* y = y_.ptr<T>();
    const T* g = dy.ptr<T>();
    T* dx = din[0].ptr<T>();
    for (std::int64_t i = 0, n = dy.size(); i < n; ++i) dx[i] = g[i] * (T(1) - y[i] * y[i]);
  });
}

}  // namespace bricks
