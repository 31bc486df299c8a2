// BCELoss, binary cross-entropy from probabilities p in [0, 1]:
//   L = -(1/N) sum_ij [ t_ij log p_ij + (1 - t_ij) log(1 - p_ij) ]
//   with each log clamped at -100 (as PyTorch), so p = 0 or 1 stays finite.
//   p (N, D), t (N, D), L (1, 1).
//   backward (dy = dL):  dL/dp = dy (p - t) / (N max(p (1 - p), 1e-12))
//                        dL/dt = dy (log(1 - p) - log p) / N
//   sample weights w (loss.h): each sample's term, and its gradient rows, times w_i.
//   caches: a view of t and its own buffers of log p and log(1 - p) (and p).
#pragma once
#include <memory>

#include "bricks/loss.h"

namespace bricks {

class BCELoss : public Loss {
 public:
  explicit BCELoss(DType dtype);
  std::string name() const override { return "BCELoss"; }
  bool supports_sample_weight() const override { return true; }

 protected:
  std::shared_ptr<Block> make_twin() const override { return std::make_shared<BCELoss>(dtype_); }
  void do_forward(const Tensor* in, const Tensor& out) override;
  void do_backward(const Tensor& dy, Tensor* din) override;

 private:
  Tensor p_, t_;
  Buffer log_p_, log_q_;
};

}  // namespace bricks
