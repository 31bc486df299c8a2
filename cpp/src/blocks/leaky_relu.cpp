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
    // p + a q with p = x or -0, q = 0 or x: selects of loaded values and constants, so
    // GCC vectorises it (x > 0 ? x : a x stays a branch: the product might trap). Exact:
    // x + a 0 = x for x > 0, and -0 + a x = a x, signed zeros included.
    for (std::int64_t i = 0, n = out.size(); i < n; ++i) {
      const T xi = x[i];
      const T p = xi > T(0) ? xi : T(-0.0), q = xi > T(0) ? T(0) : xi;
      y[i] = p + a * q;
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
      const bool pos = x[i] > T(0);
      const T p = pos ? gi : T(-0.0), q = pos ? T(0) : gi;
      dx[i] = p + a * q;
    }
  });
}

}  // namespace bricks
