#include "bricks/blocks/layer_norm.h"

#include <cmath>
#include <sstream>

namespace bricks {

LayerNorm::LayerNorm(std::int64_t features, double eps, bool affine, DType dtype)
    : Block(dtype), features_(features), eps_(eps), affine_(affine) {
  if (features <= 0)
    throw ValueError("LayerNorm: features must be positive, got " + std::to_string(features));
  if (!(eps > 0.0 && std::isfinite(eps))) {
    std::ostringstream s;
    s << "LayerNorm: eps must be a finite number > 0, got " << eps;
    throw ValueError(s.str());
  }
  xhat_.set_dtype(DType::f64);  // float32 too: backward sums it, and the sum cancels
  if (!affine) return;
  add_param("weight", 1, features).flat = true;
  add_param("bias", 1, features).flat = true;
  dispatch_float(dtype, [&](auto zero) {
    using T = decltype(zero);
    T* g = params_[0].value->ptr<T>();
    for (std::int64_t j = 0; j < features; ++j) g[j] = T(1);
  });
}

Shape LayerNorm::infer_shape(const std::vector<Tensor>& in) const {
  if (in[0].cols != features_)
    fail("expected input of shape (N, " + std::to_string(features_) + "), got " +
         in[0].shape().str());
  return in[0].shape();
}

void LayerNorm::do_forward(const Tensor* in, const Tensor& out) {
  const std::int64_t N = in[0].rows, D = features_;
  xhat_.resize(N, D);
  rstd_.resize(static_cast<std::size_t>(N));
  dispatch_float(dtype_, [&](auto zero) {
    using T = decltype(zero);
    const T* g = affine_ ? params_[0].value->ptr<T>() : nullptr;
    const T* b = affine_ ? params_[1].value->ptr<T>() : nullptr;
    for (std::int64_t i = 0; i < N; ++i) {
      const T* x = in[0].ptr<T>() + i * D;  // read in full before y (which may alias x) is written
      double* h = xhat_.ptr<double>() + i * D;
      T* y = out.ptr<T>() + i * D;
      double s = 0.0;  // two passes in double: no cancellation from a large mean
      for (std::int64_t j = 0; j < D; ++j) s += x[j];
      const double mu = s / static_cast<double>(D);
      double v = 0.0;
      for (std::int64_t j = 0; j < D; ++j) v += (x[j] - mu) * (x[j] - mu);
      const double r = 1.0 / std::sqrt(v / static_cast<double>(D) + eps_);
      rstd_[static_cast<std::size_t>(i)] = r;
      for (std::int64_t j = 0; j < D; ++j) {
        const double xh = (x[j] - mu) * r;
        h[j] = xh;
        y[j] = static_cast<T>(affine_ ? static_cast<double>(g[j]) * xh + b[j] : xh);
      }
    }
  });
}

void LayerNorm::do_backward(const Tensor& dy, Tensor* din) {
  const std::int64_t N = dy.rows, D = features_;
  dispatch_float(dtype_, [&](auto zero) {
    using T = decltype(zero);
    const T* g = affine_ ? params_[0].value->ptr<T>() : nullptr;
    std::vector<double> dg, db;
    if (affine_)
      dg.assign(static_cast<std::size_t>(D), 0.0), db.assign(static_cast<std::size_t>(D), 0.0);
    for (std::int64_t i = 0; i < N; ++i) {
      const T* G = dy.ptr<T>() + i * D;
      const double* h = xhat_.ptr<double>() + i * D;
      double a = 0.0, c = 0.0;  // sums over the row of gh and gh * xhat
      for (std::int64_t j = 0; j < D; ++j) {
        const double gh = affine_ ? static_cast<double>(G[j]) * g[j] : G[j];
        a += gh;
        c += gh * h[j];
        if (affine_) {
          dg[static_cast<std::size_t>(j)] += static_cast<double>(G[j]) * h[j];
          db[static_cast<std::size_t>(j)] += G[j];
        }
      }
      if (!din[0]) continue;
      a /= static_cast<double>(D);
      c /= static_cast<double>(D);
      const double r = rstd_[static_cast<std::size_t>(i)];
      T* dx = din[0].ptr<T>() + i * D;
      for (std::int64_t j = 0; j < D; ++j) {
        const double gh = affine_ ? static_cast<double>(G[j]) * g[j] : G[j];
        dx[j] = static_cast<T>(r * (gh - a - h[j] * c));
      }
    }
    if (!affine_) return;
    T* pg = params_[0].grad->ptr<T>();
    T* pb = params_[1].grad->ptr<T>();
    for (std::int64_t j = 0; j < D; ++j) {
      const auto k = static_cast<std::size_t>(j);
      pg[j] = static_cast<T>(overwrite_grads_ ? dg[k] : pg[j] + dg[k]);
      pb[j] = static_cast<T>(overwrite_grads_ ? db[k] : pb[j] + db[k]);
    }
  });
}

}  // namespace bricks
