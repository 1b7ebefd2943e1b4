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

/// A value behind a try-lock that notes which process took it. The mutex is
/// the lock; `holder` is 0 or the pid of the process whose thread holds it,
/// written after the mutex is won and cleared before it is freed, and read
/// only to say why the mutex was busy: a thread of this process (or one
/// between winning the mutex and writing its pid: 0), or a thread of the
/// process this one was forked from (its pid), which will never free it here.
pub struct HostLock<T> {
    holder: AtomicU32,
    value: Mutex<T>,
}

/// The value, borrowed; frees the lock when dropped (`holder` first, then
/// the mutex: fields drop in order).
pub struct HostGuard<'a, T> {
    _release: Release<'a>,
    value: MutexGuard<'a, T>,
}

struct Release<'a>(&'a AtomicU32);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.0.store(0, Ordering::Relaxed);
    }
}

/// This process's pid, cached (0: not yet known). `getpid` is a system call
/// that cost a handle read 3× its time (63 → 200 ns) when every lock made
/// it. A forked child that goes on running Python runs Python's at-fork
/// hooks first (`PyOS_AfterFork_Child`), and `dynmem` registers
/// [`forget_pid`] there (`os.register_at_fork`), so the child asks again. A
/// child forked behind Python's back (a C `fork()` without the hooks) keeps
/// the parent's pid here: a host held at the fork then reads as busy in
/// another thread rather than as forked, the message of old, never a hang.
static PID: AtomicU32 = AtomicU32::new(0);

fn pid() -> u32 {
    match PID.load(Ordering::Relaxed) {
        0 => {
            let pid = std::process::id();
            PID.store(pid, Ordering::Relaxed);
            pid
        }
        pid => pid,
    }
}

/// Forgets the cached pid: called in a forked child before it runs any
/// other Python code.
pub fn forget_pid() {
    PID.store(0, Ordering::Relaxed);
}

impl<T> HostLock<T> {
    pub fn new(value: T) -> HostLock<T> {
        HostLock {
            holder: AtomicU32::new(0),
            value: Mutex::new(value),
        }
    }

    /// The value, or why not: never blocks. One atomic exchange (the
    /// mutex's) and two plain stores when free: a handle read takes it.
    pub fn try_lock(&self) -> Result<HostGuard<'_, T>, Busy> {
        match self.value.try_lock() {
            Ok(value) => {
                self.holder.store(pid(), Ordering::Relaxed);
                Ok(HostGuard {
                    _release: Release(&self.holder),
                    value,
                })
            }
            Err(TryLockError::Poisoned(_)) => Err(Busy::Poisoned),
            Err(TryLockError::WouldBlock) => match self.holder.load(Ordering::Relaxed) {
                0 => Err(Busy::Thread),
                p if p == pid() => Err(Busy::Thread),
                _ => Err(Busy::Forked),
            },
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
