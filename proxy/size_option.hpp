// proxy/size_option.hpp — SIZE values of PROTOCOL.md §4: bytes, or a number
// with K, M or G (powers of 1024).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace courier::proxy {

// Returns the size in bytes, or nullopt when `text` is not a SIZE.
std::optional<uint64_t> parse_size(const std::string& text);

}  // namespace courier::proxy
