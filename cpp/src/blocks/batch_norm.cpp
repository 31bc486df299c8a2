#include "bricks/blocks/batch_norm.h"

#include <cmath>
#include <sstream>

namespace bricks {

BatchNorm::BatchNorm(std::int64_t features, double eps, double momentum, DType dtype)
    : Block(dtype), features_(features), eps_(eps), momentum_(momentum) {
  if (features <= 0)
    throw ValueError("BatchNorm: features must be positive, got " + std::to_string(features));
  if (!(eps > 0.0 && std::isfinite(eps)) || !(momentum >= 0.0 && momentum <= 1.0)) {
    std::ostringstream s;
    s << "BatchNorm: expected eps a finite number > 0 and momentum in [0, 1], got eps " << eps
      << " and momentum " << momentum;
    throw ValueError(s.str());
  }
  xhat_.set_dtype(DType::f64);  // float32 too: backward sums it, and the sum cancels
  add_param("weight", 1, features).flat = true;
  add_param("bias", 1, features).flat = true;
  add_buffer("running_mean", dtype, 1, features, 1);
  add_buffer("running_var", dtype, 1, features, 1);
  add_buffer("num_batches_tracked", DType::i64, 1, 1, 0);
  dispatch_float(dtype, [&](auto zero) {
    using T = decltype(zero);
    T* g = params_[0].value->ptr<T>();
    T* rv = buffers_[1].value->ptr<T>();
    for (std::int64_t j = 0; j < features; ++j) g[j] = rv[j] = T(1);
  });
}

Shape BatchNorm::infer_shape(const std::vector<Tensor>& in) const {
  if (in[0].cols != features_)
    fail("expected input of shape (N, " + std::to_string(features_) + "), got " +
         in[0].shape().str());
  return in[0].shape();
}

void BatchNorm::do_forward(const Tensor* in, const Tensor& out) {
  const std::int64_t N = in[0].rows, D = features_;
  const bool train = training_;
  if (train && N < 2)
    fail("expected more than 1 value per feature when training, got input of shape " +
         in[0].shape().str() +
         ": one sample has no batch variance; call .eval() to normalise with the running "
         "statistics");
  const auto ud = static_cast<std::size_t>(D);
  dispatch_float(dtype_, [&](auto zero) {
    using T = decltype(zero);
    T* rm = buffers_[0].value->ptr<T>();
    T* rv = buffers_[1].value->ptr<T>();
    std::vector<double> mu(ud, 0.0), var(ud, 0.0);
    if (train) {  // two passes over the batch, summed in double
      for (std::int64_t i = 0; i < N; ++i) {
        const T* x = in[0].ptr<T>() + i * D;
        for (std::int64_t j = 0; j < D; ++j) mu[static_cast<std::size_t>(j)] += x[j];
      }
      for (auto& m : mu) m /= static_cast<double>(N);
      for (std::int64_t i = 0; i < N; ++i) {
        const T* x = in[0].ptr<T>() + i * D;
        for (std::int64_t j = 0; j < D; ++j) {
          const double d = x[j] - mu[static_cast<std::size_t>(j)];
          var[static_cast<std::size_t>(j)] += d * d;
        }
      }
      for (auto& v : var) v /= static_cast<double>(N);
    } else {
      for (std::int64_t j = 0; j < D; ++j) {
        if (!std::isfinite(static_cast<double>(rm[j])) || !(rv[j] >= T(0)) ||
            !std::isfinite(static_cast<double>(rv[j]))) {
          std::ostringstream s;
          s << "running_mean[" << j << "] = " << rm[j] << ", running_var[" << j << "] = " << rv[j]
            << ": expected finite statistics, running_var >= 0";
          fail(s.str());
        }
        mu[static_cast<std::size_t>(j)] = rm[j];
        var[static_cast<std::size_t>(j)] = rv[j];
      }
    }
    xhat_.resize(N, D);
    rstd_.resize(ud);
    for (std::size_t j = 0; j < ud; ++j) rstd_[j] = 1.0 / std::sqrt(var[j] + eps_);
    const T* g = params_[0].value->ptr<T>();
    const T* b = params_[1].value->ptr<T>();
    for (std::int64_t i = 0; i < N; ++i) {
      const T* x = in[0].ptr<T>() + i * D;  // y may alias x: each x is read before its y is written
      double* h = xhat_.ptr<double>() + i * D;
      T* y = out.ptr<T>() + i * D;
      for (std::int64_t j = 0; j < D; ++j) {
        const auto k = static_cast<std::size_t>(j);
        const double xh = (x[j] - mu[k]) * rstd_[k];
        h[j] = xh;
        y[j] = static_cast<T>(static_cast<double>(g[j]) * xh + b[j]);
      }
    }
    if (train) {  // as PyTorch: the unbiased variance goes into the running estimate
      const double m = momentum_, unbias = static_cast<double>(N) / static_cast<double>(N - 1);
      for (std::int64_t j = 0; j < D; ++j) {
        const auto k = static_cast<std::size_t>(j);
        rm[j] = static_cast<T>((1.0 - m) * rm[j] + m * mu[k]);
        rv[j] = static_cast<T>((1.0 - m) * rv[j] + m * var[k] * unbias);
      }
      *buffers_[2].value->ptr<std::int64_t>() += 1;
    }
  });
  batch_stats_ = train;
}

void BatchNorm::do_backward(const Tensor& dy, Tensor* din) {
  const std::int64_t N = dy.rows, D = features_;
  const auto ud = static_cast<std::size_t>(D);
  dispatch_float(dtype_, [&](auto zero) {
    using T = decltype(zero);
    std::vector<double> sdy(ud, 0.0), sdyh(ud, 0.0);  // per feature: sum dy, sum dy * xhat
    for (std::int64_t i = 0; i < N; ++i) {
      const T* G = dy.ptr<T>() + i * D;
      const double* h = xhat_.ptr<double>() + i * D;
      for (std::int64_t j = 0; j < D; ++j) {
        sdy[static_cast<std::size_t>(j)] += G[j];
        sdyh[static_cast<std::size_t>(j)] += static_cast<double>(G[j]) * h[j];
      }
    }
    const T* g = params_[0].value->ptr<T>();
    if (din[0]) {
      const double n = static_cast<double>(N);
      for (std::int64_t i = 0; i < N; ++i) {
        const T* G = dy.ptr<T>() + i * D;
        const double* h = xhat_.ptr<double>() + i * D;
        T* dx = din[0].ptr<T>() + i * D;
        for (std::int64_t j = 0; j < D; ++j) {
          const auto k = static_cast<std::size_t>(j);
          const double s = static_cast<double>(g[j]) * rstd_[k];
          dx[j] = static_cast<T>(batch_stats_ ? s * (G[j] - sdy[k] / n - h[j] * (sdyh[k] / n))
                                              : s * G[j]);
        }
      }
    }
    T* pg = params_[0].grad->ptr<T>();
    T* pb = params_[1].grad->ptr<T>();
    for (std::int64_t j = 0; j < D; ++j) {
      const auto k = static_cast<std::size_t>(j);
      pg[j] = static_cast<T>(overwrite_grads_ ? sdyh[k] : pg[j] + sdyh[k]);
      pb[j] = static_cast<T>(overwrite_grads_ ? sdy[k] : pb[j] + sdy[k]);
    }
  });
}

}  // namespace bricks
