// Graceful shutdown on SIGTERM/SIGINT: block the signals before any thread starts, then wait.
#ifndef PDSERVE_SERVICES_COMMON_SHUTDOWN_SIGNAL_H_
#define PDSERVE_SERVICES_COMMON_SHUTDOWN_SIGNAL_H_

namespace pdserve::common {

// Blocks SIGTERM, SIGINT and SIGPIPE in the calling thread; threads started afterwards inherit
// the mask, so the signals are only ever consumed by WaitForShutdownSignal().
// REQUIRES: called first in main(), before any thread exists.
void BlockShutdownSignals();

// Blocks until SIGTERM or SIGINT arrives; returns the signal number.
int WaitForShutdownSignal();

}  // namespace pdserve::common

#endif  // PDSERVE_SERVICES_COMMON_SHUTDOWN_SIGNAL_H_
