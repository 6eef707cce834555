#include "values.hpp"

#include <msgpack.hpp>

#include <cstdint>
#include <new>
#include <string>
#include <vector>

namespace courier::python {

// ============================================================== Buffer

void Buffer::grow(std::size_t n) {
  std::size_t cap = cap_ ? cap_ : 256;
  while (cap - size_ < n) cap *= 2;
  char* p = static_cast<char*>(std::realloc(data_, cap));
  if (!p) throw std::bad_alloc();
  data_ = p;
  cap_ = cap;
}

void Buffer::trim(std::size_t keep) noexcept {
  size_ = 0;
  if (cap_ > keep) {
    std::free(data_);
    data_ = nullptr;
    cap_ = 0;
  }
}

namespace {

// ============================================================== Helpers

constexpr std::uint64_t kMaxSize = 0xffffffffu;  // msgpack's str/bin/array/map limit

// msgpack is big-endian; swapping is its own inverse.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the byte swaps here assume a little-endian host");
inline std::uint8_t big_endian(std::uint8_t v) { return v; }
inline std::uint16_t big_endian(std::uint16_t v) { return __builtin_bswap16(v); }
inline std::uint32_t big_endian(std::uint32_t v) { return __builtin_bswap32(v); }
inline std::uint64_t big_endian(std::uint64_t v) { return __builtin_bswap64(v); }

std::string type_name(PyObject* o) { return Py_TYPE(o)->tp_name; }

// repr(o) cut to `max` characters; an object whose repr fails is named by type.
std::string short_repr(PyObject* o, std::size_t max = 40) {
  PyObject* r = PyObject_Repr(o);
  Py_ssize_t n = 0;
  const char* s = r ? PyUnicode_AsUTF8AndSize(r, &n) : nullptr;
  std::string out = s ? std::string(s, static_cast<std::size_t>(n)) : "<" + type_name(o) + ">";
  if (!s) PyErr_Clear();
  Py_XDECREF(r);
  if (out.size() > max) out = out.substr(0, max) + "...";
  return out;
}

// A dict key as it appears in a path: ["items"] for plain str keys (the form
// the issue and most users write), the repr for anything else.
std::string key_text(PyObject* k) {
  if (PyUnicode_Check(k)) {
    Py_ssize_t n = 0;
    const char* s = PyUnicode_AsUTF8AndSize(k, &n);
    if (s && n <= 40) {
      bool plain = true;
      for (Py_ssize_t i = 0; i < n && plain; ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        plain = c >= 0x20 && c != 0x7f && c != '"' && c != '\\';
      }
      if (plain) return "\"" + std::string(s, static_cast<std::size_t>(n)) + "\"";
    }
    if (!s) PyErr_Clear();
  }
  return short_repr(k);
}

// ============================================================== Failure
// What went wrong and where. The path is recorded only while a failure
// unwinds (innermost step first) and turned into text at the top, so the hot
// path never formats anything.

class Failure {
 public:
  Failure() = default;
  Failure(const Failure&) = delete;
  Failure& operator=(const Failure&) = delete;
  ~Failure() {
    for (const Step& s : steps_) Py_XDECREF(s.key);
    Py_XDECREF(bad_key_);
  }

  // Our own error. Without a call to set(), a Python exception is already
  // pending (MemoryError...) and raise() leaves it alone.
  void set(PyObject* type, std::string detail) {
    type_ = type;
    detail_ = std::move(detail);
  }
  void index(Py_ssize_t i) { steps_.push_back({nullptr, i}); }
  void key(PyObject* k) {
    Py_INCREF(k);
    steps_.push_back({k, 0});
  }
  // The error is inside a dict key: name the key (when it exists), not the
  // steps inside it, since no Python expression reaches into a key.
  void in_key(PyObject* k) {
    for (const Step& s : steps_) Py_XDECREF(s.key);
    steps_.clear();
    Py_XINCREF(k);
    bad_key_ = k;
    in_key_ = true;
  }

  // "<verb> value["items"][3]: <detail>"
  void raise(const char* verb) const {
    if (!type_) return;
    std::string msg = verb;
    msg += ' ';
    if (in_key_) msg += bad_key_ ? "the key " + short_repr(bad_key_) + " of " : "a key of ";
    msg += "value";
    // Paths as deep as kMaxDepth stay readable: the outermost and innermost steps.
    const std::size_t n = steps_.size(), head = 8, tail = 3;
    for (std::size_t i = 0; i < n; ++i) {
      if (n > head + tail + 1 && i == head) {
        msg += "...";
        i = n - tail;
      }
      const Step& s = steps_[n - 1 - i];
      msg += '[';
      msg += s.key ? key_text(s.key) : std::to_string(s.index);
      msg += ']';
    }
    msg += ": ";
    msg += detail_;
    PyErr_SetString(type_, msg.c_str());
  }

 private:
  struct Step {
    PyObject* key;     // owned; nullptr for a list index
    Py_ssize_t index;
  };
  PyObject* type_ = nullptr;
  std::string detail_;
  std::vector<Step> steps_;
  PyObject* bad_key_ = nullptr;  // owned
  bool in_key_ = false;
};

// The text of the Python exception pending now (which is cleared), for a
// message of our own that names the path.
std::string take_error_text() {
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  PyObject* str = value ? PyObject_Str(value) : nullptr;
  const char* s = str ? PyUnicode_AsUTF8(str) : nullptr;
  std::string text = s ? s : "unknown reason";
  if (!s) PyErr_Clear();
  Py_XDECREF(str);
  Py_XDECREF(type);
  Py_XDECREF(value);
  Py_XDECREF(tb);
  return text;
}

// ============================================================== Packer
// Walks the value depth first. Exact type checks come first because they are
// one pointer comparison each; subclasses (IntEnum, OrderedDict, namedtuple)
// take a slower second pass and pack as their base type, as msgpack.packb does.

class Packer {
 public:
  explicit Packer(Buffer& out) : out_(out), pk_(out) {}

  bool pack(PyObject* o, int depth) {
    PyTypeObject* t = Py_TYPE(o);
    if (t == &PyUnicode_Type) return pack_str(o);
    if (t == &PyLong_Type) return pack_int(o);
    if (t == &PyDict_Type) return pack_dict(o, depth);
    if (t == &PyList_Type || t == &PyTuple_Type) return pack_array(o, depth);
    if (t == &PyFloat_Type) return pack_float(PyFloat_AS_DOUBLE(o));
    if (t == &PyBytes_Type) return pack_bin(PyBytes_AS_STRING(o), PyBytes_GET_SIZE(o), "bytes");
    if (o == Py_None) return pk_.pack_nil(), true;
    if (o == Py_True) return pk_.pack_true(), true;
    if (o == Py_False) return pk_.pack_false(), true;
    return pack_other(o, depth);
  }

  const Failure& failure() const { return failure_; }

 private:
  bool pack_other(PyObject* o, int depth) {
    if (PyByteArray_Check(o)) return pack_bin(PyByteArray_AS_STRING(o), PyByteArray_GET_SIZE(o), "bytearray");
    if (PyMemoryView_Check(o)) return pack_memoryview(o);
    if (PyLong_Check(o)) return pack_int(o);
    if (PyFloat_Check(o)) return pack_float(PyFloat_AS_DOUBLE(o));
    if (PyUnicode_Check(o)) return pack_str(o);
    if (PyBytes_Check(o)) return pack_bin(PyBytes_AS_STRING(o), PyBytes_GET_SIZE(o), "bytes");
    if (PyDict_Check(o)) return pack_dict(o, depth);
    if (PyList_Check(o) || PyTuple_Check(o)) return pack_array(o, depth);
    return fail(PyExc_TypeError,
                "unsupported type " + type_name(o) +
                    " (courier packs None, bool, int, float, str, bytes, bytearray, memoryview, "
                    "list, tuple and dict: convert it to one of those first)");
  }

  bool pack_int(PyObject* o) {
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow == 0) {
      if (v == -1 && PyErr_Occurred()) return false;
      pk_.pack_int64(v);
      return true;
    }
    if (overflow > 0) {  // 2**63 .. 2**64-1 still fits uint64
      const unsigned long long u = PyLong_AsUnsignedLongLong(o);
      if (!(u == static_cast<unsigned long long>(-1) && PyErr_Occurred())) {
        pk_.pack_uint64(u);
        return true;
      }
      if (!PyErr_ExceptionMatches(PyExc_OverflowError)) return false;
      PyErr_Clear();
    }
    return fail(PyExc_OverflowError,
                "int " + short_repr(o) + " does not fit msgpack's 64 bits (-2**63 .. 2**64-1)");
  }

  // Always float64, also for whole values: msgpack-cxx's pack_double would
  // write 1.0 as the integer 1, and msgpack.packb never does.
  bool pack_float(double d) {
    std::uint64_t bits;
    std::memcpy(&bits, &d, sizeof bits);
    bits = big_endian(bits);
    char buf[9];
    buf[0] = static_cast<char>(0xcb);
    std::memcpy(buf + 1, &bits, 8);
    out_.write(buf, sizeof buf);
    return true;
  }

  bool pack_str(PyObject* o) {
    Py_ssize_t n = 0;
    // Points into the str itself for ASCII; otherwise CPython caches the
    // UTF-8 form on the str, as msgpack-python also relies on.
    const char* s = PyUnicode_AsUTF8AndSize(o, &n);
    if (!s) {
      if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) return false;
      return fail(PyExc_ValueError, "str is not encodable as UTF-8: " + take_error_text());
    }
    if (too_big(n)) return fail_size("str of " + std::to_string(n) + " UTF-8 bytes");
    pk_.pack_str(static_cast<std::uint32_t>(n));
    pk_.pack_str_body(s, static_cast<std::uint32_t>(n));
    return true;
  }

  bool pack_bin(const char* p, Py_ssize_t n, const char* what) {
    if (too_big(n)) return fail_size(std::string(what) + " of " + std::to_string(n) + " bytes");
    pk_.pack_bin(static_cast<std::uint32_t>(n));
    pk_.pack_bin_body(p, static_cast<std::uint32_t>(n));
    return true;
  }

  bool pack_memoryview(PyObject* o) {
    Py_buffer view;
    if (PyObject_GetBuffer(o, &view, PyBUF_SIMPLE) < 0)  // not C-contiguous, or released
      return fail(PyExc_ValueError, "memoryview cannot be read as bytes: " + take_error_text());
    const bool ok = pack_bin(static_cast<const char*>(view.buf), view.len, "memoryview");
    PyBuffer_Release(&view);
    return ok;
  }

  bool pack_array(PyObject* o, int depth) {
    if (depth >= kMaxDepth) return too_deep();
    const Py_ssize_t n = PySequence_Fast_GET_SIZE(o);  // list or tuple, also subclasses
    if (too_big(n)) return fail_size(type_name(o) + " of " + std::to_string(n) + " items");
    PyObject** items = PySequence_Fast_ITEMS(o);
    pk_.pack_array(static_cast<std::uint32_t>(n));
    for (Py_ssize_t i = 0; i < n; ++i) {
      if (!pack(items[i], depth + 1)) {
        failure_.index(i);
        return false;
      }
    }
    return true;
  }

  bool pack_dict(PyObject* o, int depth) {
    if (depth >= kMaxDepth) return too_deep();
    const Py_ssize_t n = PyDict_GET_SIZE(o);
    if (too_big(n)) return fail_size(type_name(o) + " of " + std::to_string(n) + " items");
    pk_.pack_map(static_cast<std::uint32_t>(n));
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    // No Python code runs while we walk, so the dict cannot change size under
    // PyDict_Next and the header above stays true.
    while (PyDict_Next(o, &pos, &k, &v)) {
      if (!pack(k, depth + 1)) {
        failure_.in_key(k);
        return false;
      }
      if (!pack(v, depth + 1)) {
        failure_.key(k);
        return false;
      }
    }
    return true;
  }

  static bool too_big(Py_ssize_t n) { return static_cast<std::uint64_t>(n) > kMaxSize; }
  // Out of line: the message is built only when the size is too big.
  bool fail_size(const std::string& what) {
    return fail(PyExc_ValueError, what + " is beyond msgpack's limit of 2**32-1");
  }

  bool too_deep() {
    return fail(PyExc_ValueError, "nested deeper than " + std::to_string(kMaxDepth) +
                                      " levels (does a container hold itself?)");
  }

  bool fail(PyObject* type, std::string detail) {
    failure_.set(type, std::move(detail));
    return false;
  }

  Buffer& out_;
  msgpack::packer<Buffer> pk_;
  Failure failure_;
};

// ============================================================== Unpacker
// Written by hand rather than on msgpack-cxx: its unpack() builds a
// msgpack::object tree first, and its visitor parse() never says where in the
// input it is, which the size check in fits() and the error offsets need.

// A dict with room for n items, so that a big map does not rehash as it
// fills; the room is capped because n is what the (possibly hostile) input
// claims. CPython 3.13 no longer exports _PyDict_NewPresized.
PyObject* new_dict(std::uint32_t n) {
#if PY_VERSION_HEX < 0x030D0000
  return _PyDict_NewPresized(n < (1u << 16) ? n : (1u << 16));
#else
  (void)n;
  return PyDict_New();
#endif
}
// Recursive descent over the bytes, creating the Python objects as it goes.
// Hostile input is refused before it costs memory (see fits()).

// Recently read map keys. Messages repeat their field names, so a key is
// usually the very str read last time: handing that one out again skips the
// decode, the allocation and the hashing (a str caches its hash), which is
// most of what a small map costs. Direct-mapped, ASCII keys up to 32 bytes.
class KeyCache {
 public:
  static constexpr std::uint32_t kMaxLength = 32;

  // New reference to a str equal to the n ASCII bytes at s, or nullptr
  // without an exception when s is not ASCII (the caller decodes it).
  PyObject* get(const char* s, std::uint32_t n) {
    PyObject*& slot = slots_[slot_of(s, n)];
    if (slot && PyUnicode_GET_LENGTH(slot) == n && std::memcmp(PyUnicode_DATA(slot), s, n) == 0) {
      Py_INCREF(slot);
      return slot;
    }
    for (std::uint32_t i = 0; i < n; ++i)
      if (static_cast<unsigned char>(s[i]) >= 0x80) return nullptr;
    PyObject* key = PyUnicode_New(n, 127);
    if (!key) return nullptr;
    std::memcpy(PyUnicode_DATA(key), s, n);
    Py_INCREF(key);
    Py_XSETREF(slot, key);
    return key;
  }

 private:
  static constexpr int kBits = 9;
  // Mixes the length and the first and last 8 bytes: field names that differ
  // only in a suffix (key1, key2) or a prefix still land apart.
  static std::size_t slot_of(const char* s, std::uint32_t n) {
    std::uint64_t head = 0, tail = 0;
    std::memcpy(&head, s, n < 8 ? n : 8);
    if (n > 8) std::memcpy(&tail, s + n - 8, 8);
    const std::uint64_t h = (head * 0x9E3779B97F4A7C15ull) ^ (tail * 0xC2B2AE3D27D4EB4Full) ^ n;
    return static_cast<std::size_t>((h ^ (h >> 29)) * 0xBF58476D1CE4E5B9ull >> (64 - kBits));
  }
  // Strong references, deliberately never released: the cache lives as long
  // as the process, and dropping them in a static destructor would run after
  // the interpreter is gone.
  PyObject* slots_[1u << kBits] = {};
};

KeyCache key_cache;  // the GIL guards it, like every Python object

class Unpacker {
 public:
  Unpacker(const char* data, std::size_t size)
      : begin_(reinterpret_cast<const unsigned char*>(data)), p_(begin_), end_(begin_ + size) {}

  PyObject* run() {
    if (p_ == end_) {
      failure_.set(PyExc_ValueError, "empty input (0 bytes hold no msgpack value)");
      return nullptr;
    }
    PyObject* o = read(0, false);
    if (o && p_ != end_) {
      Py_DECREF(o);
      item_ = p_;
      return fail(std::to_string(end_ - p_) +
                  " trailing byte(s) after the value (the input must hold exactly one msgpack value)");
    }
    return o;
  }

  const Failure& failure() const { return failure_; }

 private:
  PyObject* read(int depth, bool in_key) {
    if (p_ == end_) return truncated();
    item_ = p_;
    const unsigned b = *p_++;
    if (b <= 0x7f) return PyLong_FromLong(static_cast<long>(b));               // positive fixint
    if (b >= 0xe0) return PyLong_FromLong(static_cast<signed char>(b));        // negative fixint
    if (b <= 0x8f) return read_map(b & 0x0f, depth, in_key);                   // fixmap
    if (b <= 0x9f) return read_array(b & 0x0f, depth, in_key);                 // fixarray
    if (b <= 0xbf) return read_str(b & 0x1f);                                  // fixstr
    std::uint32_t n = 0;
    switch (b) {
      case 0xc0: Py_RETURN_NONE;
      case 0xc2: Py_RETURN_FALSE;
      case 0xc3: Py_RETURN_TRUE;
      case 0xc4: return length<std::uint8_t>(n) ? read_bin(n) : truncated();
      case 0xc5: return length<std::uint16_t>(n) ? read_bin(n) : truncated();
      case 0xc6: return length<std::uint32_t>(n) ? read_bin(n) : truncated();
      case 0xc7: return length<std::uint8_t>(n) ? read_ext(n) : truncated();
      case 0xc8: return length<std::uint16_t>(n) ? read_ext(n) : truncated();
      case 0xc9: return length<std::uint32_t>(n) ? read_ext(n) : truncated();
      case 0xca: return read_float32();
      case 0xcb: return read_float64();
      case 0xcc: return read_uint<std::uint8_t>();
      case 0xcd: return read_uint<std::uint16_t>();
      case 0xce: return read_uint<std::uint32_t>();
      case 0xcf: return read_uint<std::uint64_t>();
      case 0xd0: return read_int<std::int8_t>();
      case 0xd1: return read_int<std::int16_t>();
      case 0xd2: return read_int<std::int32_t>();
      case 0xd3: return read_int<std::int64_t>();
      case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:                  // fixext 1..16
        return read_ext(1u << (b - 0xd4));
      case 0xd9: return length<std::uint8_t>(n) ? read_str(n) : truncated();
      case 0xda: return length<std::uint16_t>(n) ? read_str(n) : truncated();
      case 0xdb: return length<std::uint32_t>(n) ? read_str(n) : truncated();
      case 0xdc: return length<std::uint16_t>(n) ? read_array(n, depth, in_key) : truncated();
      case 0xdd: return length<std::uint32_t>(n) ? read_array(n, depth, in_key) : truncated();
      case 0xde: return length<std::uint16_t>(n) ? read_map(n, depth, in_key) : truncated();
      case 0xdf: return length<std::uint32_t>(n) ? read_map(n, depth, in_key) : truncated();
      default: return fail("byte 0xc1, which msgpack never uses");
    }
  }

  // Big-endian unsigned integer at p_; false when the input ends first.
  template <class U>
  bool get(U& v) {
    if (static_cast<std::size_t>(end_ - p_) < sizeof(U)) return false;
    std::memcpy(&v, p_, sizeof v);
    p_ += sizeof v;
    v = big_endian(v);
    return true;
  }
  template <class U>
  bool length(std::uint32_t& n) {
    U v;
    if (!get(v)) return false;
    n = v;
    return true;
  }
  // The next n bytes, or false when fewer remain (a huge claimed length
  // costs nothing: nothing is allocated before this check).
  bool take(std::uint32_t n, const char*& s) {
    if (static_cast<std::size_t>(end_ - p_) < n) return false;
    s = reinterpret_cast<const char*>(p_);
    p_ += n;
    return true;
  }

  template <class U>
  PyObject* read_uint() {
    U v;
    return get(v) ? PyLong_FromUnsignedLongLong(v) : truncated();
  }
  template <class S>
  PyObject* read_int() {
    std::make_unsigned_t<S> v;
    return get(v) ? PyLong_FromLongLong(static_cast<S>(v)) : truncated();
  }
  PyObject* read_float32() {  // C++ peers send float as float32
    std::uint32_t bits;
    if (!get(bits)) return truncated();
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return PyFloat_FromDouble(f);
  }
  PyObject* read_float64() {
    std::uint64_t bits;
    if (!get(bits)) return truncated();
    double d;
    std::memcpy(&d, &bits, sizeof d);
    return PyFloat_FromDouble(d);
  }

  PyObject* read_str(std::uint32_t n) {
    const char* s;
    if (!take(n, s)) return truncated();
    PyObject* o = PyUnicode_DecodeUTF8(s, n, "strict");
    if (!o && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError))
      return fail("str is not valid UTF-8: " + take_error_text());
    return o;
  }
  // A map key: short ASCII str keys come from the key cache.
  PyObject* read_key(int depth) {
    if (p_ != end_ && (*p_ & 0xe0) == 0xa0) {  // fixstr, up to 31 bytes
      const std::uint32_t n = *p_ & 0x1f;
      if (static_cast<std::size_t>(end_ - p_) > n) {
        item_ = p_;
        if (PyObject* key = key_cache.get(reinterpret_cast<const char*>(p_ + 1), n)) {
          p_ += 1 + n;
          return key;
        }
        if (PyErr_Occurred()) return nullptr;
      }
    }
    return read(depth, true);
  }
  PyObject* read_bin(std::uint32_t n) {
    const char* s;
    return take(n, s) ? PyBytes_FromStringAndSize(s, n) : truncated();
  }
  PyObject* read_ext(std::uint32_t n) {
    std::uint8_t type;
    const char* s;
    if (!get(type) || !take(n, s)) return truncated();
    return fail("ext type " + std::to_string(static_cast<std::int8_t>(type)) + " of " + std::to_string(n) +
                " bytes (courier values use no msgpack ext types, timestamps included)");
  }

  // Every element takes at least one byte, and so does every element the
  // enclosing containers still owe: a header claiming more elements than the
  // bytes left can hold is refused before anything is allocated for it, so
  // the memory spent stays proportional to the input.
  bool fits(std::uint64_t elements) const {
    return owed_ + elements <= static_cast<std::uint64_t>(end_ - p_);
  }
  std::string room() const {
    const auto left = static_cast<std::uint64_t>(end_ - p_);
    return std::to_string(left > owed_ ? left - owed_ : 0);
  }

  PyObject* read_array(std::uint32_t n, int depth, bool in_key) {
    if (depth >= kMaxDepth) return too_deep();
    if (!fits(n))
      return fail("an array of " + std::to_string(n) + " items cannot fit in the " + room() + " bytes left for it");
    owed_ += n;
    // Arrays inside a map key become tuples, so that the key stays hashable.
    PyObject* seq = in_key ? PyTuple_New(n) : PyList_New(n);
    if (!seq) return nullptr;
    for (std::uint32_t i = 0; i < n; ++i) {
      --owed_;
      PyObject* item = read(depth + 1, in_key);
      if (!item) {
        failure_.index(i);
        Py_DECREF(seq);
        return nullptr;
      }
      if (in_key) PyTuple_SET_ITEM(seq, i, item);
      else PyList_SET_ITEM(seq, i, item);
    }
    return seq;
  }

  PyObject* read_map(std::uint32_t n, int depth, bool in_key) {
    if (in_key) return fail("a map inside a map key (a dict cannot be a dict key)");
    if (depth >= kMaxDepth) return too_deep();
    if (!fits(2ull * n))
      return fail("a map of " + std::to_string(n) + " pairs cannot fit in the " + room() + " bytes left for it");
    owed_ += 2ull * n;
    PyObject* dict = new_dict(n);
    if (!dict) return nullptr;
    for (std::uint32_t i = 0; i < n; ++i) {
      --owed_;
      PyObject* key = read_key(depth + 1);
      if (!key) {
        failure_.in_key(nullptr);
        Py_DECREF(dict);
        return nullptr;
      }
      --owed_;
      PyObject* value = read(depth + 1, false);
      if (!value) failure_.key(key);
      const int rc = value ? PyDict_SetItem(dict, key, value) : -1;
      Py_DECREF(key);
      Py_XDECREF(value);
      if (rc < 0) {
        Py_DECREF(dict);
        return nullptr;
      }
    }
    return dict;
  }

  PyObject* truncated() { return fail("truncated: the input ends inside this value"); }
  PyObject* too_deep() {
    return fail("nested deeper than " + std::to_string(kMaxDepth) + " levels");
  }
  // Names the byte where the offending value starts.
  PyObject* fail(const std::string& detail) {
    failure_.set(PyExc_ValueError, detail + " (at byte " + std::to_string(item_ - begin_) + " of " +
                                       std::to_string(end_ - begin_) + ")");
    return nullptr;
  }

  const unsigned char* const begin_;
  const unsigned char* p_;
  const unsigned char* const end_;
  const unsigned char* item_ = begin_;  // where the value being read starts
  std::uint64_t owed_ = 0;              // elements promised by open containers, not yet begun
  Failure failure_;
};

// ============================================================== Module functions

PyObject* pack_to_bytes(PyObject* value, Buffer& buf) {
  buf.clear();
  if (!pack_value(value, buf)) return nullptr;
  return PyBytes_FromStringAndSize(buf.data(), buf.size());
}

// One buffer serves every packb() call: the GIL is held throughout and the
// walk runs no Python code, so calls cannot overlap, except through an
// error message that runs a key's __repr__; a nested call gets its own.
Buffer shared_buffer;
bool shared_buffer_busy = false;
constexpr std::size_t kKeepBuffer = 1 << 20;

PyObject* packb(PyObject*, PyObject* value) {
  if (shared_buffer_busy) {
    Buffer own;
    return pack_to_bytes(value, own);
  }
  shared_buffer_busy = true;
  PyObject* out = pack_to_bytes(value, shared_buffer);
  shared_buffer.trim(kKeepBuffer);
  shared_buffer_busy = false;
  return out;
}

PyObject* unpackb(PyObject*, PyObject* data) {
  if (PyBytes_CheckExact(data))
    return unpack_value(PyBytes_AS_STRING(data), static_cast<std::size_t>(PyBytes_GET_SIZE(data)));
  Py_buffer view;
  if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) {
    if (!PyErr_ExceptionMatches(PyExc_TypeError)) return nullptr;
    PyErr_Clear();
    return PyErr_Format(PyExc_TypeError, "unpackb() takes bytes or another buffer, not %.200s",
                        Py_TYPE(data)->tp_name);
  }
  PyObject* out = unpack_value(static_cast<const char*>(view.buf), static_cast<std::size_t>(view.len));
  PyBuffer_Release(&view);
  return out;
}

}  // namespace

bool pack_value(PyObject* value, Buffer& out) {
  try {
    Packer packer(out);
    if (packer.pack(value, 0)) return true;
    packer.failure().raise("cannot pack");
  } catch (const std::bad_alloc&) {
    PyErr_NoMemory();
  }
  return false;
}

PyObject* unpack_value(const char* data, std::size_t size) {
  try {
    Unpacker unpacker(data, size);
    if (PyObject* o = unpacker.run()) return o;
    unpacker.failure().raise("cannot unpack");
  } catch (const std::bad_alloc&) {
    PyErr_NoMemory();
  }
  return nullptr;
}

PyMethodDef value_functions[] = {
    {"packb", packb, METH_O,
     "packb($module, value, /)\n--\n\n"
     "Return value encoded as msgpack, the same bytes msgpack.packb(value) gives.\n\n"
     "Raises TypeError for a type courier cannot pack, OverflowError for an int\n"
     "outside -2**63 .. 2**64-1 and ValueError for nesting deeper than 512 levels,\n"
     "each naming where in value it happened, e.g. value[\"items\"][3]."},
    {"unpackb", unpackb, METH_O,
     "unpackb($module, data, /)\n--\n\n"
     "Return the value that data (bytes or any buffer) holds as exactly one msgpack\n"
     "object: str -> str, bin -> bytes, array -> list (tuple inside a map key),\n"
     "map -> dict.\n\n"
     "Raises ValueError for malformed, truncated or hostile input, invalid UTF-8,\n"
     "ext types and trailing bytes, naming the path and the byte offset."},
    {nullptr, nullptr, 0, nullptr},
};

}  // namespace courier::python
