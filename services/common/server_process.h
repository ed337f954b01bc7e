// What every server binary does first in main(), before any thread starts.
#ifndef PDSERVE_SERVICES_COMMON_SERVER_PROCESS_H_
#define PDSERVE_SERVICES_COMMON_SERVER_PROCESS_H_

namespace pdserve::common {

// Blocks the shutdown signals (BlockShutdownSignals) and turns off Abseil's Mutex deadlock
// detection: Debian's Abseil is built with it on, so every lock of every absl::Mutex (gRPC's
// internal ones included) would update a global lock-order graph.
// REQUIRES: called first in main(), before any thread exists.
void SetUpServerProcess();

}  // namespace pdserve::common

#endif  // PDSERVE_SERVICES_COMMON_SERVER_PROCESS_H_
