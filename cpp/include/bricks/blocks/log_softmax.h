// LogSoftmax (row-wise):  y_ij = x_ij - log sum_k exp(x_ik)  (max-shifted: stable)
//   x (N, D), y (N, D).
//   backward:  dL/dx = dy - softmax(x) * sum_k dy_ik,  softmax(x) = exp(y)
//   caches: a view of the output y.
#pragma once
#include <memory>

#include "bricks/block.h"

namespace bricks {

class LogSoftmax : public Block {
 public:
  explicit LogSoftmax(DType dtype) : Block(dtype) {}
  std::string name() const override { return "LogSoftmax"; }

 protected:
  std::shared_ptr<Block> make_twin() const override { return std::make_shared<LogSoftmax>(dtype_); }
  void do_forward(const Tensor* in, const Tensor& out) override;
  void do_backward(const Tensor& dy, Tensor* din) override;

 private:
  Tensor y_;
};

}  // namespace bricks
