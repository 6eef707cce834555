#include <courier/errors.hpp>

#include <utility>

namespace courier {

// Out-of-line destructors anchor each type's vtable and typeinfo in the
// library, so that catch clauses work across a shared-library boundary.
Error::Error(ErrorCode code, const std::string& what) : std::runtime_error(what), code_(code) {}
Error::~Error() = default;

DecodeError::DecodeError(std::string expected, std::string found)
    : Error(ErrorCode::decode,
            "decode error: expected " + expected + ", found " + found),
      expected_(std::move(expected)),
      found_(std::move(found)) {}
DecodeError::~DecodeError() = default;

ProtocolError::ProtocolError(const std::string& what) : Error(ErrorCode::protocol, what) {}
ProtocolError::~ProtocolError() = default;

TimeoutError::TimeoutError(const std::string& what) : Error(ErrorCode::timeout, what) {}
TimeoutError::~TimeoutError() = default;

RemoteError::RemoteError(int status, const std::string& reason)
    : Error(ErrorCode::remote,
            status == 0 ? "remote error: " + reason
                        : "remote error " + std::to_string(status) + ": " + reason),
      status_(status),
      reason_(reason) {}
RemoteError::~RemoteError() = default;

JournalError::JournalError(const std::string& what) : Error(ErrorCode::journal, what) {}
JournalError::~JournalError() = default;

ConfigError::ConfigError(const std::string& what) : Error(ErrorCode::config, what) {}
ConfigError::~ConfigError() = default;

ClosedError::ClosedError(const std::string& what) : Error(ErrorCode::closed, what) {}
ClosedError::~ClosedError() = default;

}  // namespace courier
