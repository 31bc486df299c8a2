#include "bricks/loss.h"

namespace bricks {

Shape Loss::infer_shape(const std::vector<Tensor>& in) const {
  if (in[1].shape() != in[0].shape())
    fail("target must have the prediction's shape " + in[0].shape().str() + ", got " +
         in[1].shape().str());
  return {1, 1};
}

void Loss::set_value(double v, const Tensor& out) {
  value_ = v;
  dispatch_float(dtype_, [&](auto zero) {
    using T = decltype(zero);
    out.ptr<T>()[0] = static_cast<T>(v);
  });
}

}  // namespace bricks
