#include "bricks/blocks/hadamard.h"

namespace bricks {

Shape Hadamard::infer_shape(const std::vector<Tensor>& in) const {
  if (in[0].shape() != in[1].shape())
    fail("inputs must have the same shape, got " + in[0].shape().str() + " and " +
         in[1].shape().str());
  return in[0].shape();
}

void Hadamard::do_forward(const Tensor* in, const Tensor& out) {
  a_ = in[0];
  b_ = in[1];
  dispatch_float(dtype_, [&](auto zero) {
    using T = decltype(zero);
    const T* a = a_.ptr<T>();
    const T* b = b_.ptr<T>();
    T* y = out.ptr<T>();
    for (std::int64_t i = 0, n = out.size(); i < n; ++i) y[i] = a[i] * b[i];
  });
}

void Hadamard::do_backward(const Tensor& dy, Tensor* din) {
  dispatch_float(dtype_, [&](auto zero) {
    using T = decltype(zero);
    const T* g = dy.ptr<T>();
    const std::int64_t n = dy.size();
    if (din[0]) {
      const T* b = b_.ptr<T>();
      T* da = din[0].ptr<T>();
      for (std::int64_t i = 0; i < n; ++i) da[i] = g[i] * b[i];
    }
    if (din[1]) {
      const T* a = a_.ptr<T>();
      T* db = din[1].ptr<T>();
      for (std::int64_t i = 0; i < n; ++i) db[i] = g[i] * a[i];
    }
  });
}

}  // namespace bricks
