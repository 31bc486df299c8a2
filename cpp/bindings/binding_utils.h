// Array checks and error translation shared by the binding sources.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <mutex>
#include <string>
#include <vector>

#include "bricks/lock_set.h"
#include "bricks/tensor.h"

namespace bricks {

namespace py = pybind11;

DType parse_dtype(const std::string& s);
// The array's dtype if it is float32, float64 or int64 (compared by value); false otherwise.
bool dtype_of(const py::array& a, DType& out);
py::dtype numpy_dtype(DType dt);
// A view of a C-contiguous float32/float64/int64 array of rank 1 (a column) or 2.
// Never copies: anything else is a TypeError/ValueError naming `who` and `what`.
Tensor as_tensor(const py::array& a, const std::string& who, const std::string& what);
void register_errors(py::module_& m);

// Releases the GIL for native work and counts the calls in flight. An exiting
// interpreter (at_exit) stops them and waits for them to take the GIL back before
// it finalizes: a thread that took the GIL back after that would be ended inside a
// C++ destructor (std::terminate, SIGABRT). Once exiting, new calls are refused
// (Interrupted) instead of releasing the GIL.
class NoGil {
 public:
  NoGil();
  ~NoGil();
  NoGil(const NoGil&) = delete;
  NoGil& operator=(const NoGil&) = delete;

 private:
  PyThreadState* state_;
};
// Takes `order` (see lock_set.h) with the GIL released: a thread that holds some of
// those mutexes may be waiting for the GIL.
void lock_nogil(LockSet& locks, const std::vector<std::mutex*>& order);
// atexit: stop every graph, refuse new native calls, wait (at most `seconds`) for
// those in flight to return.
void at_exit(double seconds);
// Whether at_exit has begun: a thread without the GIL must not take it any more.
bool exiting();
// The array, or an aligned copy if its data is not aligned for its dtype (a view
// into a bytearray at an odd offset): the kernels load whole elements.
py::array aligned(const py::array& a);

}  // namespace bricks
