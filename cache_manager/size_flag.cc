// Parses human byte sizes.
#include "cache_manager/size_flag.h"

#include <cctype>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace pdserve::cache_manager {

absl::StatusOr<uint64_t> ParseByteSize(absl::string_view text) {
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  uint64_t value = 0;
  const std::string unit = absl::AsciiStrToLower(text.substr(digits));
  if (digits == 0 || !absl::SimpleAtoi(text.substr(0, digits), &value) || value == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("capacity: '", text, "' is not a positive size such as 4GiB"));
  }
  uint64_t scale = 0;
  if (unit.empty() || unit == "b") scale = 1;
  else if (unit == "kib") scale = uint64_t{1} << 10;
  else if (unit == "mib") scale = uint64_t{1} << 20;
  else if (unit == "gib") scale = uint64_t{1} << 30;
  else if (unit == "tib") scale = uint64_t{1} << 40;
  else if (unit == "kb") scale = 1000;
  else if (unit == "mb") scale = 1000 * 1000;
  else if (unit == "gb") scale = 1000 * 1000 * 1000;
  else if (unit == "tb") scale = uint64_t{1000} * 1000 * 1000 * 1000;
  if (scale == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("capacity: unit '", text.substr(digits), "' is not one of B KiB MiB GiB TiB KB MB GB TB"));
  }
  if (value > UINT64_MAX / scale) {
    return absl::InvalidArgumentError(absl::StrCat("capacity: '", text, "' overflows 64 bits"));
  }
  return value * scale;
}

}  // namespace pdserve::cache_manager
