// Dropout(p), inverted:  y = x * m,  m_ij = 1[u_ij >= p] / (1 - p),  u ~ U[0, 1)
//   in training mode; in eval mode y = x (and p = 0 is the identity too).
//   x (N, D), y (N, D).
//   backward:  dL/dx = dy * m   (the same mask; dy in eval mode)
//   caches: the mask m (its own buffer), drawn from the block's seeded Rng.
#pragma once
#include <cstdint>
#include <memory>

#include "bricks/block.h"
#include "bricks/rng.h"

namespace bricks {

class Dropout : public Block {
 public:
  Dropout(double p, DType dtype, std::uint64_t seed);
  std::string name() const override;
  double p() const { return p_; }
  void reseed(std::uint64_t seed) { rng_.reseed(seed); }

 protected:
  std::shared_ptr<Block> make_twin() const override {
    return std::make_shared<Dropout>(p_, dtype_, next_seed());
  }
  void do_forward(const Tensor* in, const Tensor& out) override;
  void do_backward(const Tensor& dy, Tensor* din) override;

 private:
  double p_;
  Rng rng_;
  Buffer mask_;
  bool masked_ = false;  // whether the last forward applied a mask
};

}  // namespace bricks
