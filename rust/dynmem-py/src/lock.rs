//! `HostLock`, the lock around a binding host's core: a try-lock that knows
//! which process took it, so that a forked child tells a host that another
//! thread was inside when the process forked (a tick, a bulk start or a run
//! with the GIL released, the host part-way and no thread left to finish)
//! from one another thread of this process is using now.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};

/// Why [`HostLock::try_lock`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Busy {
    /// Another thread of this process holds the lock.
    Thread,
    /// A thread of the process this one was forked from held it at the fork:
    /// the value is part-way through an operation, for good.
    Forked,
    /// An operation panicked while holding the lock (the value may be
    /// part-way).
    Poisoned,
}

/// A value behind a try-lock. `holder` is the lock itself: 0 when free, else
/// the pid of the process whose thread holds it (it is never taken in one
/// process and released in another, except by a thread that forked while
/// holding it, whose copy in the child goes on and releases it there). The
/// mutex only hands out the `&mut` (it is always free when `holder` is won).
pub struct HostLock<T> {
    holder: AtomicU32,
    value: Mutex<T>,
}

/// The value, borrowed; frees the lock when dropped (the mutex first).
pub struct HostGuard<'a, T> {
    value: MutexGuard<'a, T>,
    _release: Release<'a>,
}

struct Release<'a>(&'a AtomicU32);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.0.store(0, Ordering::Release);
    }
}

impl<T> HostLock<T> {
    pub fn new(value: T) -> HostLock<T> {
        HostLock {
            holder: AtomicU32::new(0),
            value: Mutex::new(value),
        }
    }

    /// The value, or why not: never blocks.
    pub fn try_lock(&self) -> Result<HostGuard<'_, T>, Busy> {
        let pid = std::process::id();
        match self
            .holder
            .compare_exchange(0, pid, Ordering::Acquire, Ordering::Relaxed)
        {
            Ok(_) => {}
            Err(p) if p == pid => return Err(Busy::Thread),
            Err(_) => return Err(Busy::Forked),
        }
        let release = Release(&self.holder);
        match self.value.try_lock() {
            Ok(value) => Ok(HostGuard {
                value,
                _release: release,
            }),
            Err(TryLockError::Poisoned(_)) => Err(Busy::Poisoned),
            // Unreachable: whoever wins `holder` alone locks the mutex.
            Err(TryLockError::WouldBlock) => Err(Busy::Thread),
        }
    }
}

impl<T> std::ops::Deref for HostGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> std::ops::DerefMut for HostGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}
