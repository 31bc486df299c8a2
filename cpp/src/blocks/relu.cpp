#include "bricks/blocks/relu.h"

namespace bricks {

void ReLU::do_forward(const Tensor* in, const Tensor& out) {
  y_ = out;
  dispatch_float(dtype_, [&](auto zero) {
    using T = decltype(zero);
    const T* x = in[0].ptr<T>();
    T* y = out.ptr<T>();
    for (std::int64_t i = 0, n = out.size(); i < n; ++i) y[i] = x[i] > T(0) ? x[i] : T(0);
  });
}

void ReLU::do_backward(const Tensor& dy, Tensor* din) {
  if (!din[0]) return;
  dispatch_float(dtype_, [&](auto zero) {
    using T = decltype(zero);
    const T* y = y_.ptr<T>();
    const T* g = dy.ptr<T>();
    T* dx = din[0].ptr<T>();
    // both loads unconditional, so the select vectorises (no branch to mispredict)
    for (std::int64_t i = 0, n = dy.size(); i < n; ++i) {
      const T gi = g[i];
      dx[i] = y[i] > T(0) ? gi : T(0);
    }
  });
}

}  // namespace bricks
