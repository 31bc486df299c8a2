#include <cstdio>

#include "check.h"

int main() {
  int n = 0;
  for (auto& c : bricks_test::registry()) {
    const int before = bricks_test::failures();
    c.fn();
    std::printf("%s %s\n", bricks_test::failures() == before ? "ok  " : "FAIL", c.name);
    ++n;
  }
  std::printf("%d test cases, %d failed checks\n", n, bricks_test::failures());
  return (n == 0 || bricks_test::failures() != 0) ? 1 : 0;
}
