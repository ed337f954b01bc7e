// CallCanceller: lets one thread abandon cache-manager calls that another thread is waiting on.
#ifndef PDSERVE_SERVICES_KV_CLIENT_CALL_CANCELLER_H_
#define PDSERVE_SERVICES_KV_CLIENT_CALL_CANCELLER_H_

#include <functional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace pdserve::kvclient {

// Thread-safe. A caller hands one to a KvCacheClient call; Cancel() from any thread makes the
// call in flight, and every later call given the same canceller, return CANCELLED promptly.
// Cancellation is permanent.
class CallCanceller {
 public:
  CallCanceller() = default;
  CallCanceller(const CallCanceller&) = delete;
  CallCanceller& operator=(const CallCanceller&) = delete;

  void Cancel() ABSL_LOCKS_EXCLUDED(mu_);
  bool cancelled() const ABSL_LOCKS_EXCLUDED(mu_);

  // For KvCacheClient implementations. While a Registration lives, Cancel() runs `abort`
  // (once, under this canceller's lock: it must be quick and must not call back into the
  // canceller, e.g. grpc::ClientContext::TryCancel). If the canceller is already cancelled,
  // `abort` runs at once, in the constructor. The destructor waits for a running `abort`.
  class Registration {
   public:
    Registration(CallCanceller* canceller, std::function<void()> abort);  // canceller may be null
    ~Registration();
    Registration(const Registration&) = delete;
    Registration& operator=(const Registration&) = delete;

   private:
    CallCanceller* const canceller_;
  };

 private:
  mutable absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::function<void()> abort_ ABSL_GUARDED_BY(mu_);  // of the registered call in flight
};

}  // namespace pdserve::kvclient

#endif  // PDSERVE_SERVICES_KV_CLIENT_CALL_CANCELLER_H_
