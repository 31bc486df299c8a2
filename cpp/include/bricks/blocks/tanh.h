// Tanh (elementwise):  y = tanh(x)
//   x (N, D), y (N, D).
//   backward:  dL/dx = dy * (1 - y^2)  (from the output)
//   caches: a view of the output y.
#pragma once
#include <memory>

#include "bricks/block.h"

namespace bricks {

class Tanh : public Block {
 public:
  explicit Tanh(DType dtype) : Block(dtype) {}
  std::string name() const override { return "Tanh"; }

 protected:
  std::shared_ptr<Block> make_twin() const override { return std::make_shared<Tanh>(dtype_); }
  void do_forward(const Tensor* in, const Tensor& out) override;
  void do_backward(const Tensor& dy, Tensor* din) override;

 private:
  Tensor y_;
};

}  // namespace bricks
