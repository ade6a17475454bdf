// The web console's files (web/ in the source tree), compiled into the
// binary by src/mgmt/embed_console.cmake so the node serves them with no
// file and no network at run time. Immutable data; thread-safe.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

namespace tollgate::mgmt {

struct ConsoleAsset {
  const char* name;  // "app.js"
  const unsigned char* data;
  size_t size;
  const char* contentType;
};

// Every file of web/, sorted by name.
std::span<const ConsoleAsset> consoleAssets();
// 16 hex digits of SHA-256 over every file's name and digest: the asset
// directory of this build (/console/a/<hash>/), so browsers may cache the
// files forever and a new build is fetched anew.
const char* consoleAssetHash();

}  // namespace tollgate::mgmt
