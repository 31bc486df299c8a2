// Identity:  y = x
//   x (N, D), y (N, D).
//   backward:  dL/dx = dy
//   caches: nothing.
#pragma once
#include <memory>

#include "bricks/block.h"

namespace bricks {

class Identity : public Block {
 public:
  explicit Identity(DType dtype) : Block(dtype) {}
  std::string name() const override { return "Identity"; }

 protected:
  std::shared_ptr<Block> make_twin() const override { return std::make_shared<Identity>(dtype_); }
  void do_forward(const Tensor* in, const Tensor& out) override;
  void do_backward(const Tensor& dy, Tensor* din) override;
};

}  // namespace bricks
