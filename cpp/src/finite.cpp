#include "bricks/finite.h"

#include <cfloat>
#include <cmath>
#include <sstream>

#include "bricks/errors.h"

namespace bricks {

void check_finite(const Tensor& t, const std::string& who, const std::string& what) {
  dispatch_float(t.dtype, [&](auto zero) {
    using T = decltype(zero);
    const T* p = t.ptr<T>();
    for (std::int64_t i = 0, n = t.size(); i < n; ++i)
      if (!std::isfinite(p[i]))
        throw ValueError(who + ": " + what + " must be finite, got " + std::to_string(p[i]) +
                         " at row " + std::to_string(i / t.cols) + ", column " +
                         std::to_string(i % t.cols));
  });
}

void check_hyperparameter(double v, DType dtype, const std::string& who, const std::string& what,
                          bool positive) {
  const bool f32 = dtype == DType::f32;
  const double big = f32 ? FLT_MAX : DBL_MAX, small = f32 ? FLT_MIN : DBL_MIN;
  const bool ok = std::isfinite(v) && std::fabs(v) <= big && (!positive || v >= small);
  if (ok) return;
  std::ostringstream s;
  s << who << ": " << what << " must be a finite number" << (positive ? " > 0" : "")
    << (f32 && std::isfinite(v) ? " in float32" : "") << ", got " << v;
  throw ValueError(s.str());
}

}  // namespace bricks
