// ReLU (elementwise):  y = max(0, x)
//   x (N, D), y (N, D).
//   backward:  dL/dx = dy * 1[y > 0]  (gates the gradient; 0 at x = 0)
//   caches: a view of the output y.
#pragma once
#include <memory>

#include "bricks/block.h"

namespace bricks {

class ReLU : public Block {
 public:
  explicit ReLU(DType dtype) : Block(dtype) {}
  std::string name() const override { return "ReLU"; }

 protected:
  std::shared_ptr<Block> make_twin() const override { return std::make_shared<ReLU>(dtype_); }
  void do_forward(const Tensor* in, const Tensor& out) override;
  void do_backward(const Tensor& dy, Tensor* din) override;

 private:
  Tensor y_;
};

}  // namespace bricks
