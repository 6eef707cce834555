// proxy/dashboard_assets.hpp — the dashboard's files, built into the binary.
//
// proxy/dashboard/ holds the page as ordinary HTML, JS and CSS; at build
// time cmake/EmbedFiles.cmake turns each file into a byte array
// (kEmbeddedFiles). The proxy serves them from memory: nothing to install,
// nothing read from disk at run time.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace courier::proxy {

struct EmbeddedFile {
  const char* name;  // file name in proxy/dashboard/
  const unsigned char* data;
  std::size_t size;
};
extern const EmbeddedFile kEmbeddedFiles[];
extern const std::size_t kEmbeddedFileCount;

struct DashboardAsset {
  std::string_view body;
  std::string_view content_type;
};

// The file served at URL `path`: "/" is index.html, "/NAME" the embedded
// file NAME. nullopt for anything else (a 404).
std::optional<DashboardAsset> dashboard_asset(std::string_view path);

}  // namespace courier::proxy
