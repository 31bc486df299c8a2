#include "bricks/blocks/linear.h"

#include <cmath>

#include "bricks/blas.h"
#include "bricks/finite.h"
#include "bricks/fused_linear.h"
#include "bricks/rng.h"

namespace bricks {

Linear::Linear(std::int64_t in, std::int64_t out, bool bias, DType dtype, const std::string& init,
               std::uint64_t seed, double max_norm)
    : Block(dtype), in_(in), out_(out), bias_(bias) {
  if (in <= 0 || out <= 0)
    throw ValueError("Linear: in_features and out_features must be positive, got " +
                     std::to_string(in) + " and " + std::to_string(out));
  if (max_norm != 0.0) check_hyperparameter(max_norm, dtype, "Linear", "max_norm", true);
  add_param("weight", out, in).max_norm = max_norm;
  if (bias) add_param("bias", 1, out).flat = true;
  Param& w = params_[0];  // references taken after every push_back
  Param* b = bias ? &params_[1] : nullptr;
  Rng rng(seed);
  const double fan_in = static_cast<double>(in), fan_out = static_cast<double>(out);
  auto draw = [&](auto* data, std::int64_t n, auto gen) {
    for (std::int64_t i = 0; i < n; ++i)
      data[i] = static_cast<std::remove_pointer_t<decltype(data)>>(gen());
  };
  auto fill = [&](auto zero) {
    using T = decltype(zero);
    T* W = w.value->ptr<T>();
    T* B = b ? b->value->ptr<T>() : nullptr;
    if (init == "glorot_uniform") {
      const double a = std::sqrt(6.0 / (fan_in + fan_out));
      draw(W, out * in, [&] { return rng.uniform(-a, a); });
    } else if (init == "he_uniform") {
      const double a = std::sqrt(6.0 / fan_in);
      draw(W, out * in, [&] { return rng.uniform(-a, a); });
    } else if (init == "he_normal") {
      const double s = std::sqrt(2.0 / fan_in);
      draw(W, out * in, [&] { return s * rng.normal(); });
    } else if (init == "torch") {
      const double k = 1.0 / std::sqrt(fan_in);
      draw(W, out * in, [&] { return rng.uniform(-k, k); });
      if (B) draw(B, out, [&] { return rng.uniform(-k, k); });
    } else {
      throw ValueError("Linear: unknown init '" + init +
                       "', expected one of glorot_uniform, he_uniform, he_normal, torch");
    }
  };
  dispatch_float(dtype, fill);
}

Shape Linear::infer_shape(const std::vector<Tensor>& in) const {
  if (in[0].cols != in_)
    fail("expected input of shape (N, " + std::to_string(in_) + "), got " + in[0].shape().str());
  return {in[0].rows, out_};
}

void Linear::do_forward(const Tensor* in, const Tensor& out) {
  x_ = in[0];
  product(in[0], out, Act::none);
}

void Linear::forward_fused(const Tensor& x, const Tensor& out, Act act) {
  note_uncached_forward();  // x_ is not this forward's: an earlier caller's backward refuses
  product(x, out, act);
}

void Linear::product(const Tensor& x, const Tensor& out, Act act) {
  dispatch_float(dtype_, [&](auto zero) {
    using T = decltype(zero);
    linear_forward(x.ptr<T>(), x.rows, in_, params_[0].value->ptr<T>(),
                   bias_ ? params_[1].value->ptr<T>() : nullptr, out_, out.ptr<T>(), act);
  });
}

void Linear::do_backward(const Tensor& dy, Tensor* din) {
  dispatch_float(dtype_, [&](auto zero) {
    using T = decltype(zero);
    const std::int64_t N = dy.rows;
    const T* dY = dy.ptr<T>();
    // dW += dy^T x  (or = when overwriting)
    gemm(true, false, out_, in_, N, T(1), dY, out_, x_.ptr<T>(), in_,
         overwrite_grads_ ? T(0) : T(1), params_[0].grad->ptr<T>(), in_);
    if (bias_) {
      T* db = params_[1].grad->ptr<T>();
      if (overwrite_grads_)
        for (std::int64_t j = 0; j < out_; ++j) db[j] = T(0);
      for (std::int64_t i = 0; i < N; ++i)
        for (std::int64_t j = 0; j < out_; ++j) db[j] += dY[i * out_ + j];
    }
    if (din[0])  // dx = dy W
      linear_backward_input(dY, N, out_, params_[0].value->ptr<T>(), in_, din[0].ptr<T>());
  });
}

}  // namespace bricks
