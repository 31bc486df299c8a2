// BatchNorm(D, eps, momentum), over the batch for each feature (PyTorch's
// nn.BatchNorm1d(D) on (N, D) input):
//   training:  mu_j = (1/N) sum_i x_ij,  var_j = (1/N) sum_i (x_ij - mu_j)^2  (biased),
//   eval:      mu_j = running_mean_j,    var_j = running_var_j;
//   r_j = 1 / sqrt(var_j + eps),  xhat_ij = (x_ij - mu_j) r_j,  y_ij = g_j xhat_ij + b_j
//   x, y (N, D); weight g and bias b (1, D), init 1 and 0.
//   A training forward also updates the state buffers (not trained, no gradient):
//     running_mean = (1 - m) running_mean + m mu,
//     running_var  = (1 - m) running_var + m var N / (N - 1)  (unbiased),
//     num_batches_tracked += 1 (int64),
//   and needs N > 1 (a ValueError otherwise, as in PyTorch).
//   backward, training (through mu and var), with gh_ij = dy_ij g_j:
//     dL/dx_ij = r_j (gh_ij - mean_i(gh_.j) - xhat_ij mean_i(gh_.j xhat_.j))
//   backward, eval (the statistics are constants):  dL/dx_ij = r_j gh_ij
//   both:  dL/dg_j += sum_i dy_ij xhat_ij;   dL/db_j += sum_i dy_ij
//   caches: xhat (its own buffer), r (one per feature) and the mode of the forward.
//   xhat, r and every sum are double for both dtypes (backward's sums of xhat cancel).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bricks/block.h"

namespace bricks {

class BatchNorm : public Block {
 public:
  BatchNorm(std::int64_t features, double eps, double momentum, DType dtype);
  std::string name() const override { return "BatchNorm(" + std::to_string(features_) + ")"; }
  std::int64_t features() const { return features_; }
  double eps() const { return eps_; }
  double momentum() const { return momentum_; }

 protected:
  std::shared_ptr<Block> make_twin() const override {
    return std::make_shared<BatchNorm>(features_, eps_, momentum_, dtype_);
  }
  Shape infer_shape(const std::vector<Tensor>& in) const override;
  void do_forward(const Tensor* in, const Tensor& out) override;
  void do_backward(const Tensor& dy, Tensor* din) override;

 private:
  std::int64_t features_;
  double eps_, momentum_;
  Buffer xhat_;  // float64 whatever the dtype
  std::vector<double> rstd_;
  bool batch_stats_ = false;  // whether the last forward used the batch's statistics
};

}  // namespace bricks
