#include "bricks/tensor.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>

namespace bricks {

void Buffer::Free::operator()(void* p) const { std::free(p); }

void Buffer::resize(std::int64_t rows, std::int64_t cols) {
  if (rows < 0 || cols < 0) throw ValueError("Buffer: negative shape " + Shape{rows, cols}.str());
  const auto n = static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols);
  if (cols != 0 && n / static_cast<std::size_t>(cols) != static_cast<std::size_t>(rows))
    throw ValueError("Buffer: shape " + Shape{rows, cols}.str() + " is too large");
  if (n > capacity_) {
    if (n > std::numeric_limits<std::size_t>::max() / 8 - 64)
      throw ValueError("Buffer: shape " + Shape{rows, cols}.str() + " is too large");
    const std::size_t bytes = ((n * itemsize(dtype_) + 63) / 64) * 64;
    void* p = std::aligned_alloc(64, bytes);
    if (!p) {
      char gb[32];
      std::snprintf(gb, sizeof gb, "%.1f GB", static_cast<double>(bytes) / 1e9);
      throw OutOfMemory("cannot allocate " + Shape{rows, cols}.str() + " " + dtype_name(dtype_) +
                        " (" + gb + ")");
    }
    std::memset(p, 0, bytes);
    mem_.reset(static_cast<unsigned char*>(p));
    capacity_bytes_ = bytes;
    capacity_ = bytes / itemsize(dtype_);
  }
  rows_ = rows;
  cols_ = cols;
}

void Buffer::fill_zero() {
  if (mem_) std::memset(mem_.get(), 0, static_cast<std::size_t>(size()) * itemsize(dtype_));
}

}  // namespace bricks
