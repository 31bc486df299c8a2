// Linear (fully connected):  y = x W^T + b
//   x (N, in), W (out, in) as in PyTorch, b (1, out), y (N, out).
//   backward:  dL/dx = dy W;   dL/dW += dy^T x;   dL/db += sum over rows of dy.
//   caches: a view of x.
//   forward: fused_linear.h (a small-M kernel of our own, or OpenBLAS's GEMM).
// Initialisation (from a seeded Rng), b = 0 unless said otherwise:
//   "glorot_uniform" (default) W ~ U(-a, a), a = sqrt(6 / (in + out))
//   "he_uniform"     W ~ U(-a, a), a = sqrt(6 / in)
//   "he_normal"      W ~ N(0, 2 / in)
//   "torch"          W, b ~ U(-k, k), k = 1 / sqrt(in)  (PyTorch's nn.Linear default)
// max_norm c > 0 (0: none): after every optimizer step each row w of W (one unit's
// incoming weights) with ||w||_2 > c becomes w c / ||w||_2 (Srivastava et al. 2014);
// the optimizer applies it (Param::max_norm), so fit, train_step and step() all do.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "bricks/block.h"
#include "bricks/fused_linear.h"

namespace bricks {

class Linear : public Block {
 public:
  Linear(std::int64_t in_features, std::int64_t out_features, bool bias, DType dtype,
         const std::string& init, std::uint64_t seed, double max_norm = 0.0);
  std::string name() const override {
    return "Linear(" + std::to_string(in_) + ", " + std::to_string(out_) + ")";
  }
  std::int64_t in_features() const { return in_; }
  std::int64_t out_features() const { return out_; }
  bool has_bias() const { return bias_; }
  double max_norm() const { return params_[0].max_norm; }
  // out = act(x W^T + b) for inference (the graph fuses a following ReLU, Sigmoid or
  // Tanh): x must have passed output_shape; caches nothing, so no backward follows.
  void forward_fused(const Tensor& x, const Tensor& out, Act act);

 protected:
  std::shared_ptr<Block> make_twin() const override {
    return std::make_shared<Linear>(in_, out_, bias_, dtype_, "glorot_uniform", 0, max_norm());
  }
  Shape infer_shape(const std::vector<Tensor>& in) const override;
  void do_forward(const Tensor* in, const Tensor& out) override;
  void do_backward(const Tensor& dy, Tensor* din) override;

 private:
  void product(const Tensor& x, const Tensor& out, Act act);
  std::int64_t in_, out_;
  bool bias_;
  Tensor x_;
};

}  // namespace bricks
