#include "dashboard_assets.hpp"

namespace courier::proxy {

namespace {
std::string_view content_type_of(std::string_view name) {
  auto ends_with = [&](std::string_view ext) {
    return name.size() >= ext.size() && name.substr(name.size() - ext.size()) == ext;
  };
  if (ends_with(".html")) return "text/html; charset=utf-8";
  if (ends_with(".js")) return "text/javascript; charset=utf-8";
  if (ends_with(".css")) return "text/css; charset=utf-8";
  if (ends_with(".svg")) return "image/svg+xml";
  return "application/octet-stream";
}
}  // namespace

std::optional<DashboardAsset> dashboard_asset(std::string_view path) {
  if (path.empty() || path.front() != '/') return std::nullopt;
  const std::string_view name = path == "/" ? std::string_view("index.html") : path.substr(1);
  for (std::size_t i = 0; i < kEmbeddedFileCount; ++i) {
    const EmbeddedFile& f = kEmbeddedFiles[i];
    if (name == f.name) {
      return DashboardAsset{std::string_view(reinterpret_cast<const char*>(f.data), f.size),
                            content_type_of(name)};
    }
  }
  return std::nullopt;
}

}  // namespace courier::proxy
