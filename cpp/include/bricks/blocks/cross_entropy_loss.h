// CrossEntropyLoss from logits x (log-softmax folded in, stable log-sum-exp):
//   class labels y (N,) int64:      L = -(1/N) sum_i log softmax(x_i)[y_i]
//   probability rows t (N, C):      L = -(1/N) sum_ij t_ij log softmax(x_i)_j
//   x (N, C), L (1, 1).
//   backward (dy = dL):
//     labels:  dL/dx = dy (softmax(x) - onehot(y)) / N;  labels get no gradient
//     rows:    dL/dx = dy (softmax(x) * sum_j t_ij - t) / N   (= softmax - t when rows sum to 1)
//              dL/dt = -dy log softmax(x) / N   (backprop into the labels)
//   caches: its own buffer of log softmax(x), and a view of y or t.
#pragma once
#include <memory>

#include "bricks/loss.h"

namespace bricks {

class CrossEntropyLoss : public Loss {
 public:
  explicit CrossEntropyLoss(DType dtype) : Loss(dtype) { log_sm_.set_dtype(dtype); }
  std::string name() const override { return "CrossEntropyLoss"; }
  bool accepts_labels(int input) const override { return input == 1; }

 protected:
  std::shared_ptr<Block> make_twin() const override {
    return std::make_shared<CrossEntropyLoss>(dtype_);
  }
  Shape infer_shape(const std::vector<Tensor>& in) const override;
  void do_forward(const Tensor* in, const Tensor& out) override;
  void do_backward(const Tensor& dy, Tensor* din) override;

 private:
  Tensor t_;
  Buffer log_sm_;
};

}  // namespace bricks
