// Softmax (row-wise):  y_ij = exp(x_ij) / sum_k exp(x_ik)  (max-shifted: stable)
//   x (N, D), y (N, D).
//   backward:  dL/dx = y * (dy - <dy, y>_row)
//   caches: a view of the output y.
#pragma once
#include <memory>

#include "bricks/block.h"

namespace bricks {

class Softmax : public Block {
 public:
  explicit Softmax(DType dtype) : Block(dtype) {}
  std::string name() const override { return "Softmax"; }

 protected:
  std::shared_ptr<Block> make_twin() const override { return std::make_shared<Softmax>(dtype_); }
  void do_forward(const Tensor* in, const Tensor& out) override;
  void do_backward(const Tensor& dy, Tensor* din) override;

 private:
  Tensor y_;
};

}  // namespace bricks
