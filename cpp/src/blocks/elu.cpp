#include "bricks/blocks/elu.h"

#include "bricks/finite.h"
#include "bricks/kernels.h"

namespace bricks {

ELU::ELU(double alpha, DType dtype) : Block(dtype), alpha_(alpha) {
  check_hyperparameter(alpha, dtype, "ELU", "alpha");
}

void ELU::do_forward(const Tensor* in, const Tensor& out) {
  x_ = in[0];
  dispatch_float(dtype_, [&](auto zero) {
    using T = decltype(zero);
    kernels::elu(in[0].ptr<T>(), out.ptr<T>(), out.size(), alpha_);
  });
}

void ELU::do_backward(const Tensor& dy, Tensor* din) {
  if (!din[0]) return;
  dispatch_float(dtype_, [&](auto zero) {
    using T = decltype(zero);
    kernels::elu_backward(x_.ptr<T>(), dy.ptr<T>(), din[0].ptr<T>(), dy.size(), alpha_);
  });
}

}  // namespace bricks
