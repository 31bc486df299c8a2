// Sigmoid (elementwise):  y = 1 / (1 + exp(-x))
//   x (N, D), y (N, D).
//   backward:  dL/dx = dy * y (1 - y)  (from the output)
//   caches: a view of the output y.
#pragma once
#include <memory>

#include "bricks/block.h"

namespace bricks {

class Sigmoid : public Block {
 public:
  explicit Sigmoid(DType dtype) : Block(dtype) {}
  std::string name() const override { return "Sigmoid"; }

 protected:
  std::shared_ptr<Block> make_twin() const override { return std::make_shared<Sigmoid>(dtype_); }
  void do_forward(const Tensor* in, const Tensor& out) override;
  void do_backward(const Tensor& dy, Tensor* din) override;

 private:
  Tensor y_;
};

}  // namespace bricks
