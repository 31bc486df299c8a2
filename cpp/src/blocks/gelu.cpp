#include "bricks/blocks/gelu.h"

#include "bricks/kernels.h"

namespace bricks {

GELU::GELU(const std::string& approximate, DType dtype) : Block(dtype) {
  if (approximate != "none" && approximate != "tanh")
    throw ValueError("GELU: approximate must be 'none' or 'tanh', got '" + approximate + "'");
  tanh_ = approximate == "tanh";
}

void GELU::do_forward(const Tensor* in, const Tensor& out) {
  x_ = in[0];
  dispatch_float(dtype_, [&](auto zero) {
    using T = decltype(zero);
    if (tanh_)
      kernels::gelu_tanh(in[0].ptr<T>(), out.ptr<T>(), out.size());
    else
      kernels::gelu(in[0].ptr<T>(), out.ptr<T>(), out.size());
  });
}

void GELU::do_backward(const Tensor& dy, Tensor* din) {
  if (!din[0]) return;
  dispatch_float(dtype_, [&](auto zero) {
    using T = decltype(zero);
    if (tanh_)
      kernels::gelu_tanh_backward(x_.ptr<T>(), dy.ptr<T>(), din[0].ptr<T>(), dy.size());
    else
      kernels::gelu_backward(x_.ptr<T>(), dy.ptr<T>(), din[0].ptr<T>(), dy.size());
  });
}

}  // namespace bricks
