// values.hpp — Python values to msgpack bytes and back: the binding's hot path.
//
// Contract
// - What: pack_value() walks a Python object with the C API (exact type checks
//   first, then subclasses) and appends its msgpack encoding to a Buffer;
//   unpack_value() turns bytes that hold exactly one msgpack object into new
//   Python objects. No intermediate C++ tree either way.
// - Mapping: None <-> nil, bool <-> bool, int <-> int (-2**63 .. 2**64-1),
//   float <-> float64 (float32 is read too), str <-> str (UTF-8),
//   bytes/bytearray/memoryview -> bin -> bytes, list/tuple -> array -> list,
//   dict <-> map (keys of any supported type; an array used as a map key reads
//   back as a tuple so that it stays hashable). Bytes are equal to
//   msgpack.packb(value) with msgpack-python 1.x defaults.
// - Errors: both return false / nullptr with a Python exception set, naming
//   the path inside the value (value["items"][3]): TypeError for an
//   unsupported type, OverflowError for an int outside 64 bits, ValueError
//   for nesting deeper than kMaxDepth, sizes beyond msgpack's 2**32-1, a str
//   that is not UTF-8, and any malformed or hostile input to unpack_value.
// - Threading: call with the GIL held. Neither function runs Python code, so
//   the values cannot change under them.
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <cstddef>
#include <cstring>

namespace courier::python {

// Deepest nesting of lists/tuples/dicts packed or unpacked: the same 512 the
// C++ decoder accepts, so whatever Python packs a C++ peer can read.
constexpr int kMaxDepth = 512;

// Growable byte buffer with the write() msgpack::packer calls. Not copyable.
class Buffer {
 public:
  Buffer() = default;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { std::free(data_); }

  // Throws std::bad_alloc when memory runs out (the only exception here).
  void write(const char* p, std::size_t n) {
    if (n > cap_ - size_) grow(n);
    std::memcpy(data_ + size_, p, n);
    size_ += n;
  }
  void clear() noexcept { size_ = 0; }
  // Frees the memory when it grew past `keep` bytes, so one huge message
  // does not pin its buffer for the life of the process.
  void trim(std::size_t keep) noexcept;

  const char* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }

 private:
  void grow(std::size_t n);

  char* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t cap_ = 0;
};

// Appends the msgpack encoding of `value` to `out`. Returns false with a
// Python exception set (out then holds a partial encoding: discard it).
bool pack_value(PyObject* value, Buffer& out);

// New reference to the value the msgpack bytes [data, data+size) hold, or
// nullptr with ValueError (or MemoryError) set.
PyObject* unpack_value(const char* data, std::size_t size);

// packb() and unpackb(), ready for PyModule_AddFunctions.
extern PyMethodDef value_functions[];

}  // namespace courier::python
