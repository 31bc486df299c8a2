#include "bricks/loss.h"

#include <cmath>
#include <sstream>

namespace bricks {

Shape Loss::infer_shape(const std::vector<Tensor>& in) const {
  if (in[1].shape() != in[0].shape())
    fail("target must have the prediction's shape " + in[0].shape().str() + ", got " +
         in[1].shape().str());
  return {1, 1};
}

void Loss::set_value(double v, const Tensor& out) {
  value_ = v;
  dispatch_float(dtype_, [&](auto zero) {
    using T = decltype(zero);
    out.ptr<T>()[0] = static_cast<T>(v);
  });
}

void Loss::set_sample_weight(const double* w, std::int64_t n) {
  if (w == nullptr) {
    weighted_next_ = false;
    return;
  }
  if (!supports_sample_weight()) fail("this loss does not take sample weights");
  for (std::int64_t i = 0; i < n; ++i)
    if (!(std::isfinite(w[i]) && w[i] >= 0)) {
      std::ostringstream s;
      s << "sample weights must be finite and >= 0, got " << w[i] << " at index " << i;
      fail(s.str());
    }
  w_next_.assign(w, w + n);
  weighted_next_ = true;
}

void Loss::scale_rows(Tensor* din, int n) const {
  dispatch_float(dtype_, [&](auto zero) {
    using T = decltype(zero);
    for (int k = 0; k < n; ++k) {
      if (!din[k] || din[k].dtype != dtype_) continue;
      T* g = din[k].ptr<T>();
      for (std::int64_t i = 0; i < din[k].rows; ++i) {
        const T w = static_cast<T>(w_[i]);
        for (std::int64_t j = i * din[k].cols, e = j + din[k].cols; j < e; ++j) g[j] *= w;
      }
    }
  });
}

void Loss::take_sample_weight(std::int64_t rows) {
  if (weighted_next_ && static_cast<std::int64_t>(w_next_.size()) != rows)
    fail("sample weights have " + std::to_string(w_next_.size()) + " entries but the batch has " +
         std::to_string(rows) + " rows");
  weighted_ = weighted_next_;
  if (weighted_) w_ = w_next_;  // reuses w_'s storage after the first batch
}

}  // namespace bricks
