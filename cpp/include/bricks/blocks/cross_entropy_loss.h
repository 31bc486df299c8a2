// CrossEntropyLoss from logits x (log-softmax folded in, stable log-sum-exp), with
// optional class weights c (C,) (PyTorch's weight=; all 1 without) and sample
// weights s (loss.h; all 1 without). ls = log softmax(x).
//   class labels y (N,) int64:  L = -sum_i s_i c_{y_i} ls_{i,y_i} / Z,
//                               Z = N without class weights, sum_i c_{y_i} with them
//                               (PyTorch's weighted mean; Z = 0 gives L = 0, no gradient)
//   probability rows t (N, C):  L = -(1/N) sum_ij s_i c_j t_ij ls_ij   (PyTorch's, for soft
//   targets) x (N, C), L (1, 1). backward (dy = dL):
//     labels:  dL/dx_i = dy s_i c_{y_i} (softmax(x_i) - onehot(y_i)) / Z;  labels get no gradient
//     rows:    dL/dx_ij = dy s_i (softmax(x_i)_j sum_k c_k t_ik - c_j t_ij) / N
//              dL/dt_ij = -dy s_i c_j ls_ij / N   (backprop into the labels)
//   caches: its own buffer of log softmax(x), a view of y or t, Z (and the weights).
#pragma once
#include <memory>
#include <vector>

#include "bricks/loss.h"

namespace bricks {

class CrossEntropyLoss : public Loss {
 public:
  // weight: one finite weight >= 0 per class, not all 0; empty: unweighted.
  explicit CrossEntropyLoss(DType dtype, std::vector<double> weight = {});
  std::string name() const override { return "CrossEntropyLoss"; }
  bool accepts_labels(int input) const override { return input == 1; }
  bool supports_sample_weight() const override { return true; }
  const std::vector<double>& weight() const { return cw_; }

 protected:
  std::shared_ptr<Block> make_twin() const override {
    return std::make_shared<CrossEntropyLoss>(dtype_, cw_);
  }
  Shape infer_shape(const std::vector<Tensor>& in) const override;
  void do_forward(const Tensor* in, const Tensor& out) override;
  void do_backward(const Tensor& dy, Tensor* din) override;

 private:
  double class_weight(std::int64_t c) const { return cw_.empty() ? 1.0 : cw_[c]; }
  std::vector<double> cw_;
  Tensor t_;
  Buffer log_sm_;
  double z_ = 1.0;  // the labels' denominator (Z above)
};

}  // namespace bricks
