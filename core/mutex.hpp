// Mutex and MutexLock: std::mutex as Clang's thread-safety analysis understands it.
//
// libstdc++'s std::mutex carries no thread-safety attributes, so Clang cannot check that a
// member marked PBS_GUARDED_BY(mutex_) is only touched under that mutex. These two thin types
// carry them (the attributes are Clang's documented ones; GCC ignores them). The clang build in
// tools/test compiles with -Wthread-safety -Werror, so a guarded member touched without its
// mutex, or a function marked PBS_REQUIRES(m) called without m, does not build.
//
//   class Counter {
//     Mutex mutex_;
//     int n_ PBS_GUARDED_BY(mutex_) = 0;
//    public:
//     void add() PBS_EXCLUDES(mutex_) { MutexLock lock(mutex_); ++n_; }
//   };
#pragma once

#include <mutex>

#if defined(__clang__)
#define PBS_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define PBS_THREAD_ANNOTATION(x)
#endif

#define PBS_CAPABILITY(x) PBS_THREAD_ANNOTATION(capability(x))
#define PBS_SCOPED_CAPABILITY PBS_THREAD_ANNOTATION(scoped_lockable)
/// The member may only be read or written while holding `x`.
#define PBS_GUARDED_BY(x) PBS_THREAD_ANNOTATION(guarded_by(x))
/// What the pointer member points to may only be touched while holding `x`.
#define PBS_PT_GUARDED_BY(x) PBS_THREAD_ANNOTATION(pt_guarded_by(x))
/// Mutex order: this mutex is taken before (after) the named ones, never the other way round.
#define PBS_ACQUIRED_BEFORE(...) PBS_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#define PBS_ACQUIRED_AFTER(...) PBS_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
/// The caller must hold the mutex.
#define PBS_REQUIRES(...) PBS_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
/// The caller must not hold the mutex (the function takes it).
#define PBS_EXCLUDES(...) PBS_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define PBS_ACQUIRE(...) PBS_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define PBS_RELEASE(...) PBS_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define PBS_RETURN_CAPABILITY(x) PBS_THREAD_ANNOTATION(lock_returned(x))
/// For the rare function that takes a mutex and returns holding it (or releases one it did not
/// take), which the analysis cannot follow; say why beside it.
#define PBS_NO_THREAD_SAFETY_ANALYSIS PBS_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace pbs {

class PBS_CAPABILITY("mutex") Mutex {
 public:
  void lock() PBS_ACQUIRE() { mutex_.lock(); }
  void unlock() PBS_RELEASE() { mutex_.unlock(); }

 private:
  std::mutex mutex_;
};

/// Holds a Mutex for its scope (std::lock_guard, annotated).
class PBS_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mutex) PBS_ACQUIRE(mutex) : mutex_(mutex) { mutex_.lock(); }
  ~MutexLock() PBS_RELEASE() { mutex_.unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& mutex_;
};

}  // namespace pbs
