// Hadamard (elementwise product of two inputs):  y = a * b
//   a (N, D), b (N, D), y (N, D).
//   backward:  dL/da = dy * b;   dL/db = dy * a   (never by dividing y by an input)
//   caches: views of a and b.
#pragma once
#include <memory>

#include "bricks/block.h"

namespace bricks {

class Hadamard : public Block {
 public:
  explicit Hadamard(DType dtype) : Block(dtype) {}
  std::string name() const override { return "Hadamard"; }
  int num_inputs() const override { return 2; }

 protected:
  std::shared_ptr<Block> make_twin() const override { return std::make_shared<Hadamard>(dtype_); }
  Shape infer_shape(const std::vector<Tensor>& in) const override;
  void do_forward(const Tensor* in, const Tensor& out) override;
  void do_backward(const Tensor& dy, Tensor* din) override;

 private:
  Tensor a_, b_;
};

}  // namespace bricks
