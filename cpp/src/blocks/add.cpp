#include "bricks/blocks/add.h"

#include <cstring>

namespace bricks {

Add::Add(DType dtype, int n) : Block(dtype), n_(n) {
  if (n < 2) throw ValueError("Add: needs at least 2 inputs, got " + std::to_string(n));
}

Shape Add::infer_shape(const std::vector<Tensor>& in) const {
  for (int k = 1; k < n_; ++k)
    if (in[k].shape() != in[0].shape())
      fail("inputs must have the same shape, input 0 and input " + std::to_string(k) + " got " +
           in[0].shape().str() + " and " + in[k].shape().str());
  return in[0].shape();
}

void Add::do_forward(const Tensor* in, const Tensor& out) {
  dispatch_float(dtype_, [&](auto zero) {
    using T = decltype(zero);
    T* y = out.ptr<T>();
    const std::int64_t n = out.size();
    std::memcpy(y, in[0].data, sizeof(T) * n);
    for (int k = 1; k < n_; ++k) {
      const T* x = in[k].ptr<T>();
      for (std::int64_t i = 0; i < n; ++i) y[i] += x[i];
    }
  });
}

void Add::do_backward(const Tensor& dy, Tensor* din) {
  const std::size_t bytes = static_cast<std::size_t>(dy.size()) * itemsize(dtype_);
  for (int k = 0; k < n_; ++k)
    if (din[k]) std::memcpy(din[k].data, dy.data, bytes);
}

}  // namespace bricks
