// BCEWithLogitsLoss, binary cross-entropy from logits x (sigmoid folded in, stable):
//   L = (1/N) sum_ij [ max(x_ij, 0) - x_ij t_ij + log(1 + exp(-|x_ij|)) ]
//   x (N, D), t (N, D), L (1, 1).
//   backward (dy = dL):  dL/dx = dy (sigmoid(x) - t) / N;   dL/dt = -dy x / N
//   sample weights w (loss.h): each sample's term, and its gradient rows, times w_i.
//   caches: views of x and t (and the weights).
#pragma once
#include <memory>

#include "bricks/loss.h"

namespace bricks {

class BCEWithLogitsLoss : public Loss {
 public:
  explicit BCEWithLogitsLoss(DType dtype) : Loss(dtype) { scratch_.set_dtype(dtype); }
  std::string name() const override { return "BCEWithLogitsLoss"; }
  bool supports_sample_weight() const override { return true; }

 protected:
  std::shared_ptr<Block> make_twin() const override {
    return std::make_shared<BCEWithLogitsLoss>(dtype_);
  }
  void do_forward(const Tensor* in, const Tensor& out) override;
  void do_backward(const Tensor& dy, Tensor* din) override;

 private:
  Tensor x_, t_;
  Buffer scratch_;
};

}  // namespace bricks
