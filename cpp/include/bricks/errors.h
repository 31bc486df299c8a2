// Errors the core throws; the bindings map them to Python's ValueError/TypeError.
#pragma once
#include <stdexcept>
#include <string>

namespace bricks {

struct ValueError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};
struct TypeError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};
// Training met a NaN or infinite loss or gradient.
struct NonFiniteError : ValueError {
  using ValueError::ValueError;
};
// A stop was requested (Ctrl-C) while the graph ran.
struct Interrupted : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// An allocation failed; the message says what and how much (Python's MemoryError).
struct OutOfMemory : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// Misuse of an object's life cycle, e.g. backward before forward.
struct StateError : std::logic_error {
  using std::logic_error::logic_error;
};

}  // namespace bricks
