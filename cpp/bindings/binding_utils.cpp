#include "binding_utils.h"

#include <atomic>
#include <chrono>
#include <thread>

#include "bricks/errors.h"
#include "bricks/graph.h"

namespace bricks {

DType parse_dtype(const std::string& s) {
  if (s == "float32") return DType::f32;
  if (s == "float64") return DType::f64;
  throw TypeError("dtype must be float32 or float64, got " + s);
}

py::dtype numpy_dtype(DType dt) {
  switch (dt) {
    case DType::f32: return py::dtype::of<float>();
    case DType::f64: return py::dtype::of<double>();
    default: return py::dtype::of<std::int64_t>();
  }
}

bool dtype_of(const py::array& a, DType& out) {
  const py::dtype d =
      a.dtype();  // compare by value: pickled arrays carry equal but distinct dtype objects
  if (d.equal(py::dtype::of<float>()))
    out = DType::f32;
  else if (d.equal(py::dtype::of<double>()))
    out = DType::f64;
  else if (d.equal(py::dtype::of<std::int64_t>()))
    out = DType::i64;
  else
    return false;
  return true;
}

namespace {
std::atomic<bool> g_exiting{false};
std::atomic<int> g_in_flight{0};
}  // namespace

NoGil::NoGil() {
  if (g_exiting.load()) throw Interrupted("the interpreter is exiting");
  g_in_flight.fetch_add(1);
  state_ = PyEval_SaveThread();
}

NoGil::~NoGil() {
  PyEval_RestoreThread(state_);
  g_in_flight.fetch_sub(1);  // with the GIL: at_exit's wait ends only once we hold it
}

bool exiting() { return g_exiting.load(); }

void lock_nogil(LockSet& locks, const std::vector<std::mutex*>& order) {
  NoGil nogil;
  locks.lock(order);
}

void at_exit(double seconds) {
  g_exiting.store(true);
  request_stop_all();
  PyThreadState* st = PyEval_SaveThread();
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (g_in_flight.load() > 0 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  PyEval_RestoreThread(st);
}

py::array aligned(const py::array& a) {
  if (reinterpret_cast<std::uintptr_t>(a.data()) % static_cast<std::uintptr_t>(a.itemsize()) == 0)
    return a;
  return py::module_::import("numpy").attr("require")(a, py::none(), "CA");
}

Tensor as_tensor(const py::array& a, const std::string& who, const std::string& what) {
  DType dt;
  if (!dtype_of(a, dt))
    throw TypeError(who + ": " + what + " must be a float32, float64 or int64 array, got dtype " +
                    std::string(py::str(a.dtype())));
  if (a.ndim() != 1 && a.ndim() != 2)
    throw ValueError(who + ": " + what + " must be a 1-D or 2-D array, got " +
                     std::to_string(a.ndim()) + "-D");
  if (!(a.flags() & py::array::c_style))
    throw ValueError(who + ": " + what + " must be C-contiguous");
  if (reinterpret_cast<std::uintptr_t>(a.data()) % static_cast<std::uintptr_t>(a.itemsize()) != 0)
    throw ValueError(who + ": " + what +
                     " must be aligned for its dtype (pass it through aligned())");
  Tensor t;
  t.dtype = dt;
  t.data = const_cast<void*>(a.data());
  t.rows = a.shape(0);
  t.cols = a.ndim() == 2 ? a.shape(1) : 1;
  return t;
}

void register_errors(py::module_& m) {
  static py::handle state_error, nonfinite_error;
  py::tuple bases = py::make_tuple(py::handle(PyExc_ValueError), py::handle(PyExc_RuntimeError));
  state_error = PyErr_NewExceptionWithDoc(
      "bricks._core.StateError",
      "A call out of order, e.g. backward before forward (a ValueError and a RuntimeError).",
      bases.ptr(), nullptr);
  m.attr("StateError") = state_error;
  nonfinite_error = PyErr_NewExceptionWithDoc("bricks._core.NonFiniteError",
                                              "Training met a NaN or infinite loss or gradient.",
                                              PyExc_ValueError, nullptr);
  m.attr("NonFiniteError") = nonfinite_error;
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const OutOfMemory& e) {
      PyErr_SetString(PyExc_MemoryError, e.what());
    } catch (const Interrupted&) {
      PyErr_SetNone(PyExc_KeyboardInterrupt);
    } catch (const NonFiniteError& e) {
      PyErr_SetString(nonfinite_error.ptr(), e.what());
    } catch (const ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const StateError& e) {
      PyErr_SetString(state_error.ptr(), e.what());
    }
  });
}

}  // namespace bricks
