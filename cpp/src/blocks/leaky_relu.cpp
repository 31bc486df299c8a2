#include "bricks/blocks/leaky_relu.h"

#include "bricks/finite.h"

namespace bricks {

LeakyReLU::LeakyReLU(double negative_slope, DType dtype) : Block(dtype), slope_(negative_slope) {
  check_hyperparameter(negative_slope, dtype, "LeakyReLU", "negative_slope");
}

void LeakyReLU::do_forward(const Tensor* in, const Tensor& out) {
  x_ = in[0];
  dispatch_float(dtype_, [&](auto zero) {
    using T = decltype(zero);
    const T* x = in[0].ptr<T>();
    T* y = out.ptr<T>();
    const T a = static_cast<T>(slope_);  // PyTorch multiplies by the slope rounded to T
    for (std::int64_t i = 0, n = out.size(); i < n; ++i) {
      const T xi = x[i];
      y[i] = xi > T(0) ? xi : xi * a;
    }
  });
}

void LeakyReLU::do_backward(const Tensor& dy, Tensor* din) {
  if (!din[0]) return;
  dispatch_float(dtype_, [&](auto zero) {
    using T = decltype(zero);
    const T* x = x_.ptr<T>();
    const T* g = dy.ptr<T>();
    T* dx = din[0].ptr<T>();
    const T a = static_cast<T>(slope_);
    for (std::int64_t i = 0, n = dy.size(); i < n; ++i) {
      const T gi = g[i];
      dx[i] = x[i] > T(0) ? gi : gi * a;
    }
  });
}

}  // namespace bricks
