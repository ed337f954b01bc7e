// Parses human byte sizes such as "4GiB" for the --capacity flag.
#ifndef PDSERVE_CACHE_MANAGER_SIZE_FLAG_H_
#define PDSERVE_CACHE_MANAGER_SIZE_FLAG_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pdserve::cache_manager {

// "1073741824", "512KiB", "64MiB", "4GiB", "1TiB"; KB/MB/GB/TB are decimal (1000^n). Case of the
// unit is ignored. INVALID_ARGUMENT naming the text for anything else, zero or an overflow.
absl::StatusOr<uint64_t> ParseByteSize(absl::string_view text);

}  // namespace pdserve::cache_manager

#endif  // PDSERVE_CACHE_MANAGER_SIZE_FLAG_H_
