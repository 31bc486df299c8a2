// Losses are blocks with two inputs, (prediction, target), and a (1, 1) output L.
// The reduction is a mean over the batch (N rows) of a per-sample sum over
// features. backward(dy) with dy = dL (a (1, 1) scale, 1 for the plain gradient)
// gives gradients to BOTH inputs: the prediction and the target (except integer
// class labels, which have none).
#pragma once
#include "bricks/block.h"

namespace bricks {

class Loss : public Block {
 public:
  using Block::Block;
  int num_inputs() const override { return 2; }
  bool is_loss() const override { return true; }
  double value() const { return value_; }

 protected:
  // Same-shaped prediction and target by default; returns (1, 1).
  Shape infer_shape(const std::vector<Tensor>& in) const override;
  // Writes the loss into out (1, 1) and value_.
  void set_value(double v, const Tensor& out);
  double value_ = 0.0;
};

}  // namespace bricks
