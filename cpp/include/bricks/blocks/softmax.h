// Softmax (row-wise):  y_ij = exp(x_ij) / sum_k exp(x_ik)  (max-shifted: stable)
//   x (N, D), y (N, D).
//   backward:  dL/dx = y * (dy - <dy, y>_row)
//   caches: a view of the output y.
#pragma once
#include "bricks/block.h"

namespace bricks {

class Softmax : public Block {
 public:
  explicit Softmax(DType dtype) : Block(dtype) {}
  std::string name() const override { return "Softmax"; }

 protected:
  void do_forward(const Tensor* in, const Tensor& out) override;
  void do_backward(const Tensor& dy, Tensor* din) override;

 private:
  Tensor y_;
};

}  // namespace bricks
