// MutexLock: absl::MutexLock that also tells ThreadSanitizer about the lock.
//
// Why: Debian's Abseil is a prebuilt, uninstrumented library, so TSan cannot see the
// happens-before edges absl::Mutex creates and reports false races on every guarded field.
// Under TSan this guard adds an acquire after Lock() and a release before Unlock() on the
// mutex's address; elsewhere it is exactly absl::MutexLock. Use it for every absl::Mutex in
// cache_manager (it can move to a shared header once other folders need it).
#ifndef PDSERVE_CACHE_MANAGER_MUTEX_LOCK_H_
#define PDSERVE_CACHE_MANAGER_MUTEX_LOCK_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

#if defined(__SANITIZE_THREAD__)
#define PDSERVE_CACHE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PDSERVE_CACHE_TSAN 1
#endif
#endif

#ifdef PDSERVE_CACHE_TSAN
#include <sanitizer/tsan_interface.h>
#endif

namespace pdserve::cache_manager {

// Holds `mu` for its scope. Thread-compatible (one owner thread), like absl::MutexLock.
class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(absl::Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) {
    mu_->Lock();
#ifdef PDSERVE_CACHE_TSAN
    __tsan_acquire(mu_);
#endif
  }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() {
#ifdef PDSERVE_CACHE_TSAN
    __tsan_release(mu_);
#endif
    mu_->Unlock();
  }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  absl::Mutex* const mu_;
};

}  // namespace pdserve::cache_manager

#endif  // PDSERVE_CACHE_MANAGER_MUTEX_LOCK_H_
