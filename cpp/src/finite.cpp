#include "bricks/finite.h"

#include <cmath>

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

}  // namespace bricks
