// LayerNorm(D, eps, elementwise_affine), over the features of each row (PyTorch's
// nn.LayerNorm(D)):
//   mu_i = (1/D) sum_j x_ij,  var_i = (1/D) sum_j (x_ij - mu_i)^2  (biased),
//   r_i = 1 / sqrt(var_i + eps),  xhat_ij = (x_ij - mu_i) r_i,  y_ij = g_j xhat_ij + b_j
//   x, y (N, D); weight g and bias b (1, D), init 1 and 0 (none without affine).
//   backward, with gh_ij = dy_ij g_j:
//     dL/dx_ij = r_i (gh_ij - mean_j(gh_i.) - xhat_ij mean_j(gh_i. xhat_i.))
//     dL/dg_j += sum_i dy_ij xhat_ij;   dL/db_j += sum_i dy_ij
//   caches: xhat (its own buffer) and r (one per row). xhat, r and every sum are
//   double for both dtypes (backward's sums of xhat cancel).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bricks/block.h"

namespace bricks {

class LayerNorm : public Block {
 public:
  LayerNorm(std::int64_t features, double eps, bool elementwise_affine, DType dtype);
  std::string name() const override { return "LayerNorm(" + std::to_string(features_) + ")"; }
  std::int64_t features() const { return features_; }
  double eps() const { return eps_; }
  bool elementwise_affine() const { return affine_; }

 protected:
  std::shared_ptr<Block> make_twin() const override {
    return std::make_shared<LayerNorm>(features_, eps_, affine_, dtype_);
  }
  Shape infer_shape(const std::vector<Tensor>& in) const override;
  void do_forward(const Tensor* in, const Tensor& out) override;
  void do_backward(const Tensor& dy, Tensor* din) override;

 private:
  std::int64_t features_;
  double eps_;
  bool affine_;
  Buffer xhat_;  // float64 whatever the dtype
  std::vector<double> rstd_;
};

}  // namespace bricks
