#include "bricks/blocks/concat.h"

#include <cstring>

namespace bricks {

Concat::Concat(DType dtype, int n) : Block(dtype), n_(n) {
  if (n < 2) throw ValueError("Concat: needs at least 2 inputs, got " + std::to_string(n));
}

Shape Concat::infer_shape(const std::vector<Tensor>& in) const {
  std::int64_t cols = 0;
  for (int k = 0; k < n_; ++k) cols += in[k].cols;  // the base checked rows and widths > 0
  return {in[0].rows, cols};
}

void Concat::do_forward(const Tensor* in, const Tensor& out) {
  const std::size_t item = itemsize(dtype_);
  auto* y = out.ptr<unsigned char>();
  std::int64_t off = 0;
  for (int k = 0; k < n_; ++k) {
    const auto* x = in[k].ptr<unsigned char>();
    const std::size_t row = static_cast<std::size_t>(in[k].cols) * item;
    for (std::int64_t r = 0; r < out.rows; ++r)
      std::memcpy(y + (r * out.cols + off) * item, x + r * row, row);
    off += in[k].cols;
  }
}

void Concat::do_backward(const Tensor& dy, Tensor* din) {
  const std::size_t item = itemsize(dtype_);
  const auto* g = dy.ptr<unsigned char>();
  std::int64_t off = 0;
  for (int k = 0; k < n_; ++k) {
    const std::int64_t cols = cached_shapes()[k].cols;
    if (din[k]) {
      auto* d = din[k].ptr<unsigned char>();
      const std::size_t row = static_cast<std::size_t>(cols) * item;
      for (std::int64_t r = 0; r < dy.rows; ++r)
        std::memcpy(d + r * row, g + (r * dy.cols + off) * item, row);
    }
    off += cols;
  }
}

}  // namespace bricks
