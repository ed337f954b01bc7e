// glibc malloc settings for a process that moves bulk K/V through gRPC.
#ifndef PDSERVE_CACHE_MANAGER_BULK_MALLOC_H_
#define PDSERVE_CACHE_MANAGER_BULK_MALLOC_H_

#include <malloc.h>

namespace pdserve::cache_manager {

// gRPC allocates and frees a receive/send buffer per slice of every stream. With glibc's
// defaults, buffers above the (adaptive) mmap threshold are mapped and unmapped each time and
// a freed heap top is trimmed, so every megabyte moved is faulted in again (~15% of WriteKv's
// CPU). Raising both thresholds keeps freed buffers for reuse: the heap stays at the peak of
// buffers in flight (tens of MiB), small next to the K/V pool. WriteKv and ReadKv: about
// 0.25 -> 0.28-0.37 of memcpy in alternating runs.
inline void UseBulkTransferMalloc() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's largest allowed value on 64-bit
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
}

}  // namespace pdserve::cache_manager

#endif  // PDSERVE_CACHE_MANAGER_BULK_MALLOC_H_
