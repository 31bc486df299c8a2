// Add (elementwise sum of n >= 2 inputs):  y = x_1 + x_2 + ... + x_n
//   every x_k (N, D), y (N, D).
//   backward:  dL/dx_k = dy for every k (the sum passes the gradient on unchanged).
//   caches: nothing (backward needs only dy).
// The arity n is fixed at construction: the Python Add keeps one native block per
// arity it is called with.
#pragma once
#include <memory>

#include "bricks/block.h"

namespace bricks {

class Add : public Block {
 public:
  Add(DType dtype, int n);
  std::string name() const override { return "Add"; }
  int num_inputs() const override { return n_; }

 protected:
  std::shared_ptr<Block> make_twin() const override { return std::make_shared<Add>(dtype_, n_); }
  Shape infer_shape(const std::vector<Tensor>& in) const override;
  void do_forward(const Tensor* in, const Tensor& out) override;
  void do_backward(const Tensor& dy, Tensor* din) override;

 private:
  int n_;
};

}  // namespace bricks
