// The table of one instruction-set path's kernels (see math_kernels.cpp, dispatch.cpp).
#pragma once
#include <stdint.h>

namespace bricks::kernels {

struct Table {
  void (*sigmoid_f)(const float*, float*, int64_t);
  void (*sigmoid_d)(const double*, double*, int64_t);
  void (*tanh_f)(const float*, float*, int64_t);
  void (*tanh_d)(const double*, double*, int64_t);
  void (*softmax_f)(const float*, float*, int64_t, int64_t);
  void (*softmax_d)(const double*, double*, int64_t, int64_t);
  void (*log_softmax_f)(const float*, float*, int64_t, int64_t);
  void (*log_softmax_d)(const double*, double*, int64_t, int64_t);
  void (*exp_f)(const float*, float*, int64_t);
  void (*exp_d)(const double*, double*, int64_t);
  void (*log_clamped_f)(const float*, float*, int64_t);
  void (*log_clamped_d)(const double*, double*, int64_t);
  void (*log1p_exp_neg_abs_f)(const float*, float*, int64_t);
  void (*log1p_exp_neg_abs_d)(const double*, double*, int64_t);
  // ELU, GELU and Softplus: forward (x -> y) and backward (x, dy -> dx) with their
  // hyperparameters; float32 is computed in float64 and rounded once.
  void (*elu_f)(const float*, float*, int64_t, double);
  void (*elu_d)(const double*, double*, int64_t, double);
  void (*elu_backward_f)(const float*, const float*, float*, int64_t, double);
  void (*elu_backward_d)(const double*, const double*, double*, int64_t, double);
  void (*gelu_f)(const float*, float*, int64_t);
  void (*gelu_d)(const double*, double*, int64_t);
  void (*gelu_backward_f)(const float*, const float*, float*, int64_t);
  void (*gelu_backward_d)(const double*, const double*, double*, int64_t);
  void (*gelu_tanh_f)(const float*, float*, int64_t);
  void (*gelu_tanh_d)(const double*, double*, int64_t);
  void (*gelu_tanh_backward_f)(const float*, const float*, float*, int64_t);
  void (*gelu_tanh_backward_d)(const double*, const double*, double*, int64_t);
  void (*softplus_f)(const float*, float*, int64_t, double, double);
  void (*softplus_d)(const double*, double*, int64_t, double, double);
  void (*softplus_backward_f)(const float*, const float*, float*, int64_t, double, double);
  void (*softplus_backward_d)(const double*, const double*, double*, int64_t, double, double);
  // Y[:, j0:j1] = act(X W^T + b)[:, j0:j1] for M rows of X (M, K), W (N, K), b (N) or
  // null, Y (M, N), all row-major; act 0 none, 1 ReLU, 2 sigmoid, 3 tanh (fused_linear.h).
  void (*linear_rows_f)(const float*, int64_t, int64_t, const float*, const float*, float*, int64_t,
                        int64_t, int64_t, int);
  void (*linear_rows_d)(const double*, int64_t, int64_t, const double*, const double*, double*,
                        int64_t, int64_t, int64_t, int);
  // dX[:, k0:k1] = (dY W)[:, k0:k1] for M rows of dY (M, N), W (N, K), dX (M, K), all
  // row-major: Linear's input gradient at small M (fused_linear.h).
  void (*linear_input_grad_f)(const float*, int64_t, int64_t, const float*, float*, int64_t,
                              int64_t, int64_t);
  void (*linear_input_grad_d)(const double*, int64_t, int64_t, const double*, double*, int64_t,
                              int64_t, int64_t);
};

namespace isa_baseline {
extern const Table table;
}
#if defined(BRICKS_HAVE_ISA_CLONES)
namespace isa_avx2 {
extern const Table table;
}
namespace isa_avx512 {
extern const Table table;
}
#endif

}  // namespace bricks::kernels
