#include "bricks/finite.h"

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <sstream>
#include <type_traits>

#include "bricks/errors.h"

namespace bricks {

namespace {

// Whether any of n values is NaN or inf: its exponent bits all set. An integer OR over
// the bits vectorises (an early-exit isfinite loop does not): predict scans each input.
template <class T>
bool any_nonfinite(const T* p, std::int64_t n) {
  using U = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  constexpr U exp = sizeof(T) == 4 ? U(0x7f800000u) : U(0x7ff0000000000000ull);
  U bad = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    U bits;
    std::memcpy(&bits, p + i, sizeof bits);
    bad |= static_cast<U>((bits & exp) == exp);
  }
  return bad != 0;
}

}  // namespace

void check_finite(const Tensor& t, const std::string& who, const std::string& what) {
  dispatch_float(t.dtype, [&](auto zero) {
    using T = decltype(zero);
    const T* p = t.ptr<T>();
    if (!any_nonfinite(p, t.size())) return;
    for (std::int64_t i = 0, n = t.size(); i < n; ++i)  // where: for the message
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
