#include "bricks/blocks/softplus.h"

#include "bricks/finite.h"
#include "bricks/kernels.h"

namespace bricks {

Softplus::Softplus(double beta, double threshold, DType dtype)
    : Block(dtype), beta_(beta), threshold_(threshold) {
  check_hyperparameter(beta, dtype, "Softplus", "beta", true);
  check_hyperparameter(threshold, dtype, "Softplus", "threshold");
}

void Softplus::do_forward(const Tensor* in, const Tensor& out) {
  x_ = in[0];
  dispatch_float(dtype_, [&](auto zero) {
    using T = decltype(zero);
    kernels::softplus(in[0].ptr<T>(), out.ptr<T>(), out.size(), beta_, threshold_);
  });
}

void Softplus::do_backward(const Tensor& dy, Tensor* din) {
  if (!din[0]) return;
  dispatch_float(dtype_, [&](auto zero) {
    using T = decltype(zero);
    kernels::softplus_backward(x_.ptr<T>(), dy.ptr<T>(), din[0].ptr<T>(), dy.size(), beta_,
                               threshold_);
  });
}

}  // namespace bricks
