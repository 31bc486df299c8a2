// Row-major 2-D views and owning buffers. Rows are samples, columns features.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "bricks/errors.h"

namespace bricks {

// Element type, chosen at run time (float32 for speed, float64 for gradient checks,
// int64 only for class labels).
enum class DType : int { f32 = 0, f64 = 1, i64 = 2 };

inline std::size_t itemsize(DType dt) { return dt == DType::f32 ? 4 : 8; }
inline const char* dtype_name(DType dt) {
  switch (dt) {
    case DType::f32: return "float32";
    case DType::f64: return "float64";
    default: return "int64";
  }
}
template <class T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
  return DType::f32;
}
template <>
constexpr DType dtype_of<double>() {
  return DType::f64;
}
template <>
constexpr DType dtype_of<std::int64_t>() {
  return DType::i64;
}

struct Shape {
  std::int64_t rows = 0, cols = 0;
  bool operator==(const Shape& o) const { return rows == o.rows && cols == o.cols; }
  bool operator!=(const Shape& o) const { return !(*this == o); }
  std::int64_t size() const { return rows * cols; }
  std::string str() const { return "(" + std::to_string(rows) + ", " + std::to_string(cols) + ")"; }
};

// A non-owning view of a contiguous row-major matrix.
struct Tensor {
  DType dtype = DType::f32;
  void* data = nullptr;
  std::int64_t rows = 0, cols = 0;

  Shape shape() const { return {rows, cols}; }
  std::int64_t size() const { return rows * cols; }
  explicit operator bool() const { return data != nullptr; }
  template <class T>
  T* ptr() const {
    return static_cast<T*>(data);
  }
};

// An owning, 64-byte aligned, zero-initialised matrix. resize() keeps the
// allocation when it is big enough, so buffers reused per batch never reallocate.
class Buffer {
 public:
  Buffer() = default;
  Buffer(DType dt, std::int64_t rows, std::int64_t cols) : dtype_(dt) { resize(rows, cols); }

  void resize(std::int64_t rows, std::int64_t cols);  // contents unspecified after growth
  void set_dtype(DType dt) {
    dtype_ = dt;
    capacity_ = capacity_bytes_ / itemsize(dt);
  }
  void fill_zero();
  Tensor view() const { return {dtype_, mem_.get(), rows_, cols_}; }
  DType dtype() const { return dtype_; }
  Shape shape() const { return {rows_, cols_}; }
  std::int64_t size() const { return rows_ * cols_; }
  template <class T>
  T* ptr() const {
    return reinterpret_cast<T*>(mem_.get());
  }

 private:
  struct Free {
    void operator()(void* p) const;
  };
  DType dtype_ = DType::f32;
  std::int64_t rows_ = 0, cols_ = 0;
  std::size_t capacity_ = 0, capacity_bytes_ = 0;
  std::unique_ptr<unsigned char[], Free> mem_;
};

// Calls f(T{}) with T the C++ type of a floating dtype.
template <class F>
decltype(auto) dispatch_float(DType dt, F&& f) {
  if (dt == DType::f32) return f(float{});
  if (dt == DType::f64) return f(double{});
  throw TypeError(std::string("expected float32 or float64 data, got ") + dtype_name(dt));
}

}  // namespace bricks
