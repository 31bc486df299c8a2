// A tiny check-macro harness (no third-party test framework needed).
#pragma once
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace bricks_test {

struct Case {
  const char* name;
  std::function<void()> fn;
};
inline std::vector<Case>& registry() {
  static std::vector<Case> r;
  return r;
}
inline int& failures() {
  static int f = 0;
  return f;
}
struct Register {
  Register(const char* n, std::function<void()> f) { registry().push_back({n, std::move(f)}); }
};

}  // namespace bricks_test

#define BRICKS_CAT2(a, b) a##b
#define BRICKS_CAT(a, b) BRICKS_CAT2(a, b)
#define TEST_CASE(NAME)                                             \
  static void NAME();                                               \
  static bricks_test::Register BRICKS_CAT(reg_, NAME)(#NAME, NAME); \
  static void NAME()

#define CHECK(cond)                                                                 \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++bricks_test::failures();                                                    \
    }                                                                               \
  } while (0)

#define CHECK_NEAR(a, b, tol)                                                              \
  do {                                                                                     \
    const double va_ = (a), vb_ = (b);                                                     \
    if (!(std::fabs(va_ - vb_) <= (tol) * std::fmax(1.0, std::fabs(vb_)))) {               \
      std::fprintf(stderr, "%s:%d: CHECK_NEAR failed: %s = %.17g, %s = %.17g\n", __FILE__, \
                   __LINE__, #a, va_, #b, vb_);                                            \
      ++bricks_test::failures();                                                           \
    }                                                                                      \
  } while (0)

#define CHECK_THROWS(expr, EXC)                                                              \
  do {                                                                                       \
    bool thrown_ = false;                                                                    \
    try {                                                                                    \
      expr;                                                                                  \
    } catch (const EXC&) {                                                                   \
      thrown_ = true;                                                                        \
    }                                                                                        \
    if (!thrown_) {                                                                          \
      std::fprintf(stderr, "%s:%d: expected %s from %s\n", __FILE__, __LINE__, #EXC, #expr); \
      ++bricks_test::failures();                                                             \
    }                                                                                        \
  } while (0)
