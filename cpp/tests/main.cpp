#include <cstdio>
#include <cstdlib>
#include <string>

#include "bricks/kernels.h"
#include "check.h"

int main() {
  // BRICKS_ISA picks the kernels' instruction-set path (ctest runs once per path).
  const char* isa = std::getenv("BRICKS_ISA");
  if (isa && *isa) {
    try {
      bricks::kernels::set_isa(isa);
    } catch (const std::exception& e) {
      std::printf("skipped: %s\n", e.what());
      return 77;  // ctest's SKIP_RETURN_CODE
    }
  }
  std::printf("kernels: %s path\n", bricks::kernels::isa_name(bricks::kernels::active_isa()));
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
