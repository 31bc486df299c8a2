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
