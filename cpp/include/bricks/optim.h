// Optimizers update parameters in place from their accumulated gradients, with
// PyTorch's semantics (torch.optim.SGD / Adam / AdamW). Parameters shared by several
// blocks (the same buffer) are updated once.
#pragma once
#include <cmath>
#include <string>
#include <vector>

#include "bricks/block.h"

namespace bricks {

class Optimizer {
 public:
  Optimizer(std::vector<Param> params, double lr);
  virtual ~Optimizer() = default;
  // Clips the gradients to global norm clip_norm (if > 0), updates, then scales the rows
  // of every parameter with a max_norm down to it (see Param::max_norm).
  void step();
  void zero_grad();
  double lr() const { return lr_; }
  void set_lr(double lr);
  // Scale the gradients so that their global L2 norm is at most max_norm
  // (torch.nn.utils.clip_grad_norm_); 0 disables.
  void set_clip_norm(double max_norm);
  double clip_norm() const { return clip_norm_; }
  // The global L2 norm of the gradients (non-finite if any gradient is).
  double grad_norm() const;
  const std::vector<Param>& params() const { return params_; }
  // The blocks these parameters belong to: kept alive, and their mutexes are what a
  // call from Python takes (lock_set.h).
  void set_owners(std::vector<std::shared_ptr<Block>> blocks);
  const std::vector<std::mutex*>& lock_order() const { return lock_order_; }
  // Per-parameter state buffers (momentum, moments), for saving and restoring.
  std::vector<Buffer>& state() { return state_; }
  long steps() const { return steps_; }
  void set_steps(long s) { steps_ = s; }
  virtual std::string name() const = 0;

  // For guarded training. The largest |weight| and |state| value are kept by every
  // update; refresh_maxima() recomputes them when weights may have changed outside
  // step(). grad_max() is the largest |gradient| (NaN/inf if any is not finite).
  // step_is_safe(gmax) proves from these bounds that the next step keeps every
  // weight and state value finite (false when it cannot tell).
  void refresh_maxima();
  bool values_finite() const { return std::isfinite(wmax_); }  // as of the last refresh
  double grad_max() const;
  virtual bool step_is_safe(double gmax) const = 0;

 protected:
  virtual void update() = 0;  // one update, steps_ not yet incremented
  void apply_max_norms();     // after update(): only shrinks weights, so the maxima stay bounds
  void ensure_state(int per_param);
  static void check_hyper(const std::string& who, const char* what, double v,
                          bool positive = false);
  double limit() const;  // a magnitude safely below the dtype's overflow
  std::vector<Param> params_;
  std::vector<Buffer> state_;
  std::vector<std::shared_ptr<Block>> owners_;
  std::vector<std::mutex*> lock_order_;
  double lr_, clip_norm_ = 0.0;
  double wmax_ = 0.0, smax_[2] = {0.0, 0.0};  // see refresh_maxima()
  long steps_ = 0;
};

// g = grad + weight_decay * theta
// momentum > 0:  buf = g on the first step, else buf = momentum * buf + (1 - dampening) * g
//                g = g + momentum * buf if nesterov, else g = buf
// theta <- theta - lr * g
class SGD : public Optimizer {
 public:
  SGD(std::vector<Param> params, double lr, double momentum = 0.0, double dampening = 0.0,
      double weight_decay = 0.0, bool nesterov = false);
  std::string name() const override { return "SGD"; }
  bool step_is_safe(double gmax) const override;

 protected:
  void update() override;

 private:
  double momentum_, dampening_, weight_decay_;
  bool nesterov_;
};

// Adam (decoupled = false; weight decay as L2: g = grad + wd * theta) and
// AdamW (decoupled = true; theta <- theta (1 - lr wd) first):
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  t = step number
//   theta <- theta - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
class Adam : public Optimizer {
 public:
  Adam(std::vector<Param> params, double lr, double beta1, double beta2, double eps,
       double weight_decay, bool decoupled);
  std::string name() const override { return decoupled_ ? "AdamW" : "Adam"; }
  bool step_is_safe(double gmax) const override;

 protected:
  void update() override;

 private:
  double beta1_, beta2_, eps_, weight_decay_;
  bool decoupled_;
};

}  // namespace bricks
