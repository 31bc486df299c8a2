// ELU (elementwise):  y = x if x > 0, else alpha (exp(x) - 1)
//   x (N, D), y (N, D).
//   backward:  dL/dx = dy if x > 0, else dy alpha exp(x)  (alpha at x = 0, as PyTorch
//              does; from x, not y + alpha, which loses the digits of small gradients)
//   caches: a view of the input x.
#pragma once
#include <memory>

#include "bricks/block.h"

namespace bricks {

class ELU : public Block {
 public:
  ELU(double alpha, DType dtype);
  std::string name() const override { return "ELU"; }
  double alpha() const { return alpha_; }

 protected:
  std::shared_ptr<Block> make_twin() const override {
    return std::make_shared<ELU>(alpha_, dtype_);
  }
  void do_forward(const Tensor* in, const Tensor& out) override;
  void do_backward(const Tensor& dy, Tensor* din) override;

 private:
  double alpha_;
  Tensor x_;
};

}  // namespace bricks
