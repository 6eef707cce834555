// CurveZMQ for Python (C++ security.hpp): courier.Curve mirrors
// courier::CurveOptions field by field and is given to any socket owner as
// `curve=`; the certificate functions return and take (public, secret)
// tuples of Z85 text. Keys are accepted as str or bytes, because pyzmq's
// zmq.auth.load_certificate() and zmq.curve_keypair() give bytes.
#include "bindings.hpp"

#include "options.hpp"

#include <courier/security.hpp>

#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>

#include <optional>
#include <string>
#include <tuple>

namespace nb = nanobind;

namespace courier::python {
namespace {

// The text of a key given as str or bytes; TypeError naming `what` otherwise.
std::string key_text(nb::handle key, const char* what) {
  if (PyUnicode_Check(key.ptr())) return nb::cast<std::string>(key);
  if (PyBytes_Check(key.ptr()))
    return std::string(PyBytes_AS_STRING(key.ptr()), static_cast<std::size_t>(PyBytes_GET_SIZE(key.ptr())));
  PyErr_Format(PyExc_TypeError, "%s takes a Z85 key as str or bytes (40 characters), not %.200s", what,
               Py_TYPE(key.ptr())->tp_name);
  throw nb::python_error();
}

// A path given as str or os.PathLike.
std::string path_text(nb::handle path) {
  nb::object fs = nb::steal(PyOS_FSPath(path.ptr()));
  if (!fs.is_valid()) throw nb::python_error();
  if (PyBytes_Check(fs.ptr())) return key_text(fs, "path");
  return nb::cast<std::string>(fs);
}

// (public, secret) of a pair; secret None when the pair has none.
using KeyTuple = std::tuple<std::string, std::optional<std::string>>;
KeyTuple to_tuple(const CurveKeyPair& k) {
  return {k.public_key, k.secret_key.empty() ? std::nullopt : std::optional<std::string>(k.secret_key)};
}

// A (public, secret) pair from Python: a 2-tuple/list, secret may be None.
CurveKeyPair to_pair(nb::handle keys, const char* what) {
  nb::object seq = nb::steal(PySequence_Fast(keys.ptr(), ""));
  if (!seq.is_valid() || PySequence_Fast_GET_SIZE(seq.ptr()) != 2) {
    PyErr_Clear();
    PyErr_Format(PyExc_TypeError, "%s takes a (public, secret) pair of Z85 keys, not %.200s", what,
                 Py_TYPE(keys.ptr())->tp_name);
    throw nb::python_error();
  }
  CurveKeyPair k;
  nb::handle pub = PySequence_Fast_GET_ITEM(seq.ptr(), 0), sec = PySequence_Fast_GET_ITEM(seq.ptr(), 1);
  if (!pub.is_none()) k.public_key = key_text(pub, what);
  if (!sec.is_none()) k.secret_key = key_text(sec, what);
  return k;
}

}  // namespace

void bind_curve(nb::module_& m) {
  nb::class_<CurveOptions>(m, "Curve",
                           "CurveZMQ for one socket (C++ courier::CurveOptions): pass it as curve= to any "
                           "socket owner. A client sets server_key; a server sets server=True, its keys and "
                           "optionally allow_dir.")
      .def(
          "__init__",
          [](CurveOptions* self, nb::handle server_key, nb::handle keys, bool server, nb::handle allow_dir) {
            auto* o = new (self) CurveOptions();
            if (!server_key.is_none()) o->server_key = key_text(server_key, "Curve(server_key=)");
            if (!keys.is_none()) o->keys = to_pair(keys, "Curve(keys=)");
            o->server = server;
            if (!allow_dir.is_none()) o->allow_dir = path_text(allow_dir);
          },
          nb::kw_only(), nb::arg("server_key").none() = nb::none(), nb::arg("keys").none() = nb::none(),
          nb::arg("server") = false, nb::arg("allow_dir").none() = nb::none(),
          nb::sig("def __init__(self, *, server_key: str | bytes | None = None, "
                  "keys: tuple[str | bytes, str | bytes | None] | None = None, server: bool = False, "
                  "allow_dir: str | os.PathLike[str] | None = None) -> None"))
      .def_prop_ro("server_key",
                   [](const CurveOptions& o) {
                     return o.server_key.empty() ? std::nullopt : std::optional<std::string>(o.server_key);
                   },
                   "The server's public key (client side), or None.")
      .def_prop_ro("public_key",
                   [](const CurveOptions& o) {
                     return o.keys.public_key.empty() ? std::nullopt : std::optional<std::string>(o.keys.public_key);
                   },
                   "This socket's public key, or None (a fresh pair is made for a client).")
      .def_prop_ro("has_secret_key", [](const CurveOptions& o) { return !o.keys.secret_key.empty(); },
                   "Whether a secret key was given (it is never read back).")
      .def_ro("server", &CurveOptions::server)
      .def_prop_ro("allow_dir",
                   [](const CurveOptions& o) {
                     return o.allow_dir.empty() ? std::nullopt : std::optional<std::string>(o.allow_dir);
                   },
                   "The directory of allowed clients' public certificates, or None (any client).")
      .def_prop_ro("enabled", &CurveOptions::enabled, "True when the socket uses CURVE (as server or client).")
      .def("__repr__", [](const CurveOptions& o) {
        std::string s = "Curve(";
        if (o.server) s += "server=True, ";
        if (!o.server_key.empty()) s += "server_key='" + o.server_key + "', ";
        if (!o.keys.public_key.empty()) s += "public_key='" + o.keys.public_key + "', ";
        if (!o.keys.secret_key.empty()) s += "secret_key=<hidden>, ";
        if (!o.allow_dir.empty()) s += "allow_dir='" + o.allow_dir + "', ";
        if (s.size() > 6) s.resize(s.size() - 2);
        return s + ")";
      });

  m.def(
      "load_certificate", [](nb::handle path) { return to_tuple(load_certificate(path_text(path))); },
      nb::arg("path"), nb::sig("def load_certificate(path: str | os.PathLike[str]) -> tuple[str, str | None]"),
      "(public, secret) keys of a ZeroMQ certificate file (zmq.auth, zcert, `courier keygen`); secret is "
      "None for a public certificate. Raises ConfigError naming the file.");
  m.def(
      "save_certificate",
      [](nb::handle keys, nb::handle base) { save_certificate(to_pair(keys, "save_certificate()"), path_text(base)); },
      nb::arg("keys"), nb::arg("base"),
      nb::sig("def save_certificate(keys: tuple[str | bytes, str | bytes | None], base: str | os.PathLike[str]) "
              "-> None"),
      "Write BASE.key (public) and BASE.key_secret (mode 0600); never overwrites (ConfigError).");
  m.def(
      "new_curve_key_pair", [] { return to_tuple(new_curve_key_pair()); },
      nb::sig("def new_curve_key_pair() -> tuple[str, str]"), "A new (public, secret) pair of Z85 keys.");
}

}  // namespace courier::python
