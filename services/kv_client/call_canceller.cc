// CallCanceller.
#include "services/kv_client/call_canceller.h"

#include <utility>

namespace pdserve::kvclient {

void CallCanceller::Cancel() {
  absl::MutexLock lock(&mu_);
  if (cancelled_) return;
  cancelled_ = true;
  if (abort_) abort_();
}

bool CallCanceller::cancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

CallCanceller::Registration::Registration(CallCanceller* canceller, std::function<void()> abort)
    : canceller_(canceller) {
  if (canceller_ == nullptr) return;
  absl::MutexLock lock(&canceller_->mu_);
  if (canceller_->cancelled_) {
    abort();
    return;
  }
  canceller_->abort_ = std::move(abort);
}

CallCanceller::Registration::~Registration() {
  if (canceller_ == nullptr) return;
  absl::MutexLock lock(&canceller_->mu_);
  canceller_->abort_ = nullptr;
}

}  // namespace pdserve::kvclient
