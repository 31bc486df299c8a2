// Losses are blocks with two inputs, (prediction, target), and a (1, 1) output L.
// The reduction is a mean over the batch (N rows) of a per-sample sum over
// features. backward(dy) with dy = dL (a (1, 1) scale, 1 for the plain gradient)
// gives gradients to BOTH inputs: the prediction and the target (except integer
// class labels, which have none).
//
// Per-sample weights w (set_sample_weight, for the forwards that follow) scale each
// sample's loss before the mean: L = (1/N) sum_i w_i l_i (Keras's
// "sum_over_batch_size"); the gradients scale by w_i likewise. Weights get no
// gradient. A loss that cannot weigh samples refuses them (supports_sample_weight).
#pragma once
#include <vector>

#include "bricks/block.h"

namespace bricks {

class Loss : public Block {
 public:
  using Block::Block;
  int num_inputs() const override { return 2; }
  bool is_loss() const override { return true; }
  double value() const { return value_; }
  virtual bool supports_sample_weight() const { return false; }
  // Weights for the next forwards' n rows, copied; w == nullptr goes back to none.
  // Each must be finite and >= 0 (ValueError otherwise).
  void set_sample_weight(const double* w, std::int64_t n);
  bool has_sample_weight() const { return weighted_next_; }

 protected:
  // Same-shaped prediction and target by default; returns (1, 1).
  Shape infer_shape(const std::vector<Tensor>& in) const override;
  // Writes the loss into out (1, 1) and value_.
  void set_value(double v, const Tensor& out);
  // Called by forward once the inputs are valid: the weights for this batch of `rows`
  // (checked against their count), kept for backward even if new ones are set.
  void take_sample_weight(std::int64_t rows);
  double sample_weight(std::int64_t i) const { return weighted_ ? w_[i] : 1.0; }
  // Multiplies row i of each wanted gradient din[0..n) by w_i (after an unweighted backward).
  void scale_rows(Tensor* din, int n) const;
  double value_ = 0.0;
  bool weighted_ = false;

 private:
  std::vector<double> w_next_, w_;
  bool weighted_next_ = false;
};

}  // namespace bricks
