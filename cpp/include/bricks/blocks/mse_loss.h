// MSELoss, the lecture's quadratic loss:  L = (1/N) sum_i ||x_i - t_i||^2
//   x (N, D) prediction, t (N, D) target, L (1, 1): the squared error summed over
//   features, averaged over the batch (PyTorch's "mean" also divides by D).
//   backward (dy = dL):  dL/dx = dy * 2 (x - t) / N;   dL/dt = dy * 2 (t - x) / N
//   sample weights w (loss.h): each sample's term, and its gradient rows, times w_i.
//   caches: views of x and t (and the weights).
#pragma once
#include <memory>

#include "bricks/loss.h"

namespace bricks {

class MSELoss : public Loss {
 public:
  explicit MSELoss(DType dtype) : Loss(dtype) {}
  std::string name() const override { return "MSELoss"; }
  bool supports_sample_weight() const override { return true; }

 protected:
  std::shared_ptr<Block> make_twin() const override { return std::make_shared<MSELoss>(dtype_); }
  void do_forward(const Tensor* in, const Tensor& out) override;
  void do_backward(const Tensor& dy, Tensor* din) override;

 private:
  Tensor x_, t_;
};

}  // namespace bricks
