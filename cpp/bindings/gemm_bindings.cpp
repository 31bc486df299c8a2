// The threading knob of matrix products, and a private door to bricks' GEMM for the
// tests (the pool against one OpenBLAS call, every transposition).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "binding_utils.h"
#include "bricks/blas.h"
#include "bricks/gemm_pool.h"

namespace py = pybind11;
using namespace bricks;

namespace {

template <class T>
py::array gemm_typed(bool ta, bool tb, const py::array& a, const py::array& b, const py::array& c,
                     double alpha, double beta) {
  using Arr = py::array_t<T, py::array::c_style>;
  Arr A = Arr::ensure(a), B = Arr::ensure(b), C0 = Arr::ensure(c);
  if (!A || !B || !C0 || A.ndim() != 2 || B.ndim() != 2 || C0.ndim() != 2)
    throw py::value_error("_gemm: expected three 2-D arrays of one float dtype");
  const std::int64_t M = ta ? A.shape(1) : A.shape(0), K = ta ? A.shape(0) : A.shape(1);
  const std::int64_t Kb = tb ? B.shape(1) : B.shape(0), N = tb ? B.shape(0) : B.shape(1);
  if (K != Kb || C0.shape(0) != M || C0.shape(1) != N)
    throw py::value_error("_gemm: expected op(A) (M, K), op(B) (K, N) and C (M, N), got K " +
                          std::to_string(K) + " and " + std::to_string(Kb) + ", C (" +
                          std::to_string(C0.shape(0)) + ", " + std::to_string(C0.shape(1)) +
                          ") for (" + std::to_string(M) + ", " + std::to_string(N) + ")");
  Arr C(std::vector<py::ssize_t>{M, N});
  std::copy(C0.data(), C0.data() + M * N, C.mutable_data());
  const T* pa = A.data();
  const T* pb = B.data();
  T* pc = C.mutable_data();
  {
    NoGil nogil;
    gemm(ta, tb, M, N, K, T(alpha), pa, A.shape(1), pb, B.shape(1), T(beta), pc, N);
  }
  return std::move(C);
}

}  // namespace

void bind_gemm(py::module_& m) {
  m.def("set_threading", &set_threading, py::arg("mode"));
  m.def("get_threading", &get_threading);
  m.def(
      "_gemm",
      [](bool ta, bool tb, const py::array& a, const py::array& b, const py::array& c, double alpha,
         double beta) {
        if (a.dtype().is(py::dtype::of<double>()))
          return gemm_typed<double>(ta, tb, a, b, c, alpha, beta);
        if (a.dtype().is(py::dtype::of<float>()))
          return gemm_typed<float>(ta, tb, a, b, c, alpha, beta);
        throw py::type_error("_gemm: expected float32 or float64 arrays");
      },
      py::arg("trans_a"), py::arg("trans_b"), py::arg("a"), py::arg("b"), py::arg("c"),
      py::arg("alpha"), py::arg("beta"),
      "alpha op(a) op(b) + beta c through bricks' gemm (tests).");
  m.def(
      "_gemm_split",
      [](std::int64_t M, std::int64_t N, std::int64_t K, int threads) {
        const GemmSplit s = gemm_split(M, N, K, threads);
        return py::make_tuple(std::string(1, s.dim), s.width, s.count);
      },
      py::arg("m"), py::arg("n"), py::arg("k"), py::arg("threads"));
  m.def(
      "_gemm_pool_stats",
      [](bool reset) {
        const GemmPoolStats s = gemm_pool_stats(reset);
        py::dict d;
        d["jobs"] = s.jobs;
        d["caller_panels"] = s.caller_panels;
        d["worker_panels"] = s.worker_panels;
        d["serial_jobs"] = s.serial_jobs;
        d["alone_jobs"] = s.alone_jobs;
        return d;
      },
      py::arg("reset") = false);
}
