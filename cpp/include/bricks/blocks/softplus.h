// Softplus (elementwise), PyTorch's form with beta and threshold:
//   y = x where beta x > threshold (linear there), else log(1 + exp(beta x)) / beta
//   x (N, D), y (N, D).
//   backward:  dL/dx = dy where beta x > threshold, else dy sigmoid(beta x)
//   caches: a view of the input x.
#pragma once
#include <memory>

#include "bricks/block.h"

namespace bricks {

class Softplus : public Block {
 public:
  Softplus(double beta, double threshold, DType dtype);
  std::string name() const override { return "Softplus"; }
  double beta() const { return beta_; }
  double threshold() const { return threshold_; }

 protected:
  std::shared_ptr<Block> make_twin() const override {
    return std::make_shared<Softplus>(beta_, threshold_, dtype_);
  }
  void do_forward(const Tensor* in, const Tensor& out) override;
  void do_backward(const Tensor& dy, Tensor* din) override;

 private:
  double beta_, threshold_;
  Tensor x_;
};

}  // namespace bricks
