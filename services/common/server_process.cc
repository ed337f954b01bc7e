// What every server binary does first in main().
#include "services/common/server_process.h"

#include "absl/synchronization/mutex.h"
#include "services/common/shutdown_signal.h"

namespace pdserve::common {

void SetUpServerProcess() {
  BlockShutdownSignals();
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

}  // namespace pdserve::common
