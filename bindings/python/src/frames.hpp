// frames.hpp — Python values <-> message bytes with the converter of
// values.hpp, the only converter of the binding.
#pragma once

#include <nanobind/nanobind.h>

#include <courier/errors.hpp>

#include <zmq.hpp>

#include <string>

#include "values.hpp"

namespace courier::python {

// Packs `value` into `buf` (cleared first). Raises the converter's
// TypeError/OverflowError/ValueError as a C++ nb::python_error. GIL held.
inline void pack_into(nanobind::handle value, Buffer& buf) {
  buf.clear();
  if (!pack_value(value.ptr(), buf)) throw nanobind::python_error();
}

inline zmq::message_t pack_message(nanobind::handle value, Buffer& buf) {
  pack_into(value, buf);
  return zmq::message_t(buf.data(), buf.size());
}

inline std::string pack_string(nanobind::handle value) {
  thread_local Buffer buf;
  pack_into(value, buf);
  std::string out(buf.data(), buf.size());
  buf.trim(1 << 20);
  return out;
}

// The value a received message holds. Bytes that are not one msgpack object
// raise courier.DecodeError (also a ValueError) with the converter's text,
// which names the offset and what it found. GIL held.
inline nanobind::object unpack_bytes(const void* data, std::size_t size) {
  PyObject* o = unpack_value(static_cast<const char*>(data), size);
  if (o) return nanobind::steal(o);
  if (!PyErr_ExceptionMatches(PyExc_ValueError)) throw nanobind::python_error();  // MemoryError
  nanobind::python_error e;  // takes the pending ValueError
  throw DecodeError("one msgpack object", nanobind::str(e.value()).c_str());
}

inline nanobind::bytes to_bytes(const void* data, std::size_t size) {
  return nanobind::bytes(static_cast<const char*>(data), size);
}

// The bytes of a Python buffer (bytes, bytearray, memoryview) as a string.
// Raises TypeError naming `what` for anything else. GIL held.
inline std::string buffer_bytes(nanobind::handle data, const char* what) {
  if (PyBytes_CheckExact(data.ptr()))
    return std::string(PyBytes_AS_STRING(data.ptr()), static_cast<std::size_t>(PyBytes_GET_SIZE(data.ptr())));
  Py_buffer view;
  if (PyObject_GetBuffer(data.ptr(), &view, PyBUF_SIMPLE) < 0) {
    PyErr_Clear();
    PyErr_Format(PyExc_TypeError, "%s takes bytes or another buffer, not %.200s", what,
                 Py_TYPE(data.ptr())->tp_name);
    throw nanobind::python_error();
  }
  std::string out(static_cast<const char*>(view.buf), static_cast<std::size_t>(view.len));
  PyBuffer_Release(&view);
  return out;
}

}  // namespace courier::python
