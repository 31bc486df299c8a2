#include "bricks/blocks/dropout.h"

#include <cmath>
#include <cstring>
#include <sstream>

namespace bricks {

Dropout::Dropout(double p, DType dtype, std::uint64_t seed) : Block(dtype), p_(p), rng_(seed) {
  if (!(p >= 0.0 && p < 1.0)) {
    std::ostringstream s;
    s << "Dropout: p must be in [0, 1), got " << p;
    throw ValueError(s.str());
  }
  mask_.set_dtype(dtype);
}

std::string Dropout::name() const {
  std::ostringstream s;
  s << "Dropout(" << p_ << ")";
  return s.str();
}

void Dropout::do_forward(const Tensor* in, const Tensor& out) {
  masked_ = training_ && p_ > 0.0;
  dispatch_float(dtype_, [&](auto zero) {
    using T = decltype(zero);
    const T* x = in[0].ptr<T>();
    T* y = out.ptr<T>();
    const std::int64_t n = out.size();
    if (!masked_) {
      if (y != x) std::memcpy(y, x, sizeof(T) * n);
      return;
    }
    mask_.resize(out.rows, out.cols);
    T* m = mask_.ptr<T>();
    const T scale = T(1.0 / (1.0 - p_));
    // Compare 53-bit uniforms against p: exact for every p, same draws for both dtypes.
    for (std::int64_t i = 0; i < n; ++i) m[i] = rng_.uniform() >= p_ ? scale : T(0);
    for (std::int64_t i = 0; i < n; ++i) y[i] = x[i] * m[i];
  });
}

void Dropout::do_backward(const Tensor& dy, Tensor* din) {
  if (!din[0]) return;
  dispatch_float(dtype_, [&](auto zero) {
    using T = decltype(zero);
    const T* g = dy.ptr<T>();
    T* dx = din[0].ptr<T>();
    const std::int64_t n = dy.size();
    if (!masked_) {
      std::memcpy(dx, g, sizeof(T) * n);
      return;
    }
    const T* m = mask_.ptr<T>();
    for (std::int64_t i = 0; i < n; ++i) dx[i] = g[i] * m[i];
  });
}

}  // namespace bricks
