// LeakyReLU (elementwise):  y = x if x > 0, else negative_slope * x
//   x (N, D), y (N, D).
//   backward:  dL/dx = dy if x > 0, else negative_slope * dy  (the slope at x = 0, as
//              PyTorch does)
//   caches: a view of the input x (a negative slope makes the sign of y no guide).
#pragma once
#include <memory>

#include "bricks/block.h"

namespace bricks {

class LeakyReLU : public Block {
 public:
  LeakyReLU(double negative_slope, DType dtype);
  std::string name() const override { return "LeakyReLU"; }
  double negative_slope() const { return slope_; }

 protected:
  std::shared_ptr<Block> make_twin() const override {
    return std::make_shared<LeakyReLU>(slope_, dtype_);
  }
  void do_forward(const Tensor* in, const Tensor& out) override;
  void do_backward(const Tensor& dy, Tensor* din) override;

 private:
  double slope_;
  Tensor x_;
};

}  // namespace bricks
