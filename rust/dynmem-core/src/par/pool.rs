//! A small fork-join pool for the tick's passes over large hosts.
//!
//! [`join`] runs its second closure on an idle helper thread and its first
//! on the calling thread, then waits for both; with no helper idle it runs
//! both in turn. Results never depend on which happened (the callers merge
//! sums, extremes and position-ordered lists exactly).
//!
//! A join allocates nothing (the job lives on the caller's stack; std's
//! `Mutex`/`Condvar` are futexes), the caller does half the work, and a
//! helper spins briefly before it sleeps, so the back-to-back passes of one
//! tick usually find it awake. (rayon's `join` from outside its pool
//! allocates in its injector queue and wakes two threads per join.)
//!
//! The helpers (one per CPU beyond the first, or `DYNMEM_THREADS` − 1) start
//! on first use and live as long as the process. A forked child starts its
//! own on its first use, whenever the fork came: before, during or after the
//! parent's set-up, or during a join (see [`usable`]).

use std::cell::UnsafeCell;
use std::panic::{self, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, Ordering};
use std::sync::{Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long a helper (and a joining caller) spins before it sleeps: long
/// enough that a loop of large ticks (set the demands, tick) finds the
/// helpers awake at the next tick's first pass (a futex wake costs tens of
/// µs, as much as a pass over 10k–50k VMs), short enough that an idle
/// process stops spinning at once.
const SPIN: Duration = Duration::from_micros(200);

/// Most helper threads.
const MAX_HELPERS: usize = 255;

/// A job on its owner's stack, as a type-erased pointer and the function
/// that runs it.
#[derive(Clone, Copy)]
struct JobRef {
    data: *const (),
    run: unsafe fn(*const ()),
}

// SAFETY: a `JobRef` is handed to exactly one helper, and its owner waits
// for the helper to finish with it before the job goes out of scope.
unsafe impl Send for JobRef {}

struct Helper {
    /// Claimed by a `join` (which alone hands it a job and waits for it).
    busy: AtomicBool,
    /// A job is waiting in `job` / the job has run.
    pending: AtomicBool,
    finished: AtomicBool,
    job: Mutex<Slot>,
    /// Signalled when a job is handed over, and when it has run.
    wake: Condvar,
    done: Condvar,
}

/// What the helper's mutex guards: the job handed over, and who is asleep
/// on a condvar (so that the other side signals only then: a futex wake is
/// a system call).
#[derive(Default)]
struct Slot {
    job: Option<JobRef>,
    helper_asleep: bool,
    owner_asleep: bool,
}

impl Helper {
    fn new() -> Helper {
        Helper {
            busy: AtomicBool::new(false),
            pending: AtomicBool::new(false),
            finished: AtomicBool::new(false),
            job: Mutex::new(Slot::default()),
            wake: Condvar::new(),
            done: Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.job.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn main(&self) {
        loop {
            let job = self.next_job();
            // SAFETY: the owner keeps the job alive until `finished` is set.
            unsafe { (job.run)(job.data) };
            let slot = self.lock();
            self.finished.store(true, Ordering::Release);
            let asleep = slot.owner_asleep;
            drop(slot);
            if asleep {
                self.done.notify_one();
            }
        }
    }

    /// Waits for a job: spinning for a while, then asleep.
    fn next_job(&self) -> JobRef {
        spin_until(&self.pending);
        let mut slot = self.lock();
        loop {
            if let Some(job) = slot.job.take() {
                self.pending.store(false, Ordering::Relaxed);
                return job;
            }
            slot.helper_asleep = true;
            slot = self.wake.wait(slot).unwrap_or_else(|e| e.into_inner());
            slot.helper_asleep = false;
        }
    }

    /// Hands `job` to this (claimed, idle) helper.
    fn start(&self, job: JobRef) {
        self.finished.store(false, Ordering::Relaxed);
        let mut slot = self.lock();
        slot.job = Some(job);
        self.pending.store(true, Ordering::Release);
        let asleep = slot.helper_asleep;
        drop(slot);
        if asleep {
            self.wake.notify_one();
        }
    }

    /// Waits until the job handed over has run (spinning first).
    fn wait(&self) {
        if spin_until(&self.finished) {
            return;
        }
        let mut slot = self.lock();
        while !self.finished.load(Ordering::Acquire) {
            slot.owner_asleep = true;
            slot = self.done.wait(slot).unwrap_or_else(|e| e.into_inner());
            slot.owner_asleep = false;
        }
    }
}

/// Spins until `flag` is set (true) or [`SPIN`] has passed (false).
fn spin_until(flag: &AtomicBool) -> bool {
    let until = Instant::now() + SPIN;
    let mut spins = 0u32;
    while !flag.load(Ordering::Acquire) {
        std::hint::spin_loop();
        spins += 1;
        if spins.is_multiple_of(64) && Instant::now() >= until {
            return false;
        }
    }
    true
}

/// The helpers whose threads started, and the process they started in.
struct Pool {
    helpers: Vec<&'static Helper>,
    pid: u32,
}

/// This process's pool, once started (null before). A child forked after
/// the pool started inherits the pointer but not the threads: it sees the
/// parent's pid in it and starts its own pool.
static POOL: AtomicPtr<Pool> = AtomicPtr::new(ptr::null_mut());

/// The pid of the process whose thread is starting (or has started) the
/// pool, 0 before any. The claim is by process, not a lock: a child forked
/// while its parent was mid-way through starting the pool inherits the
/// parent's pid here, with no thread to finish the set-up, and claims the
/// set-up for itself. (A `OnceLock` whose initialiser was running at the
/// fork stays "running" in the child, and its first large tick waited
/// forever.)
static SETUP: AtomicU32 = AtomicU32::new(0);

/// The helpers this process can use. The first call in a process (also in
/// a forked child, `os.fork`, `multiprocessing`) starts its pool; calls
/// from other threads while that is under way use none (their joins run
/// both halves in turn), as does a process whose helper threads could not
/// be started.
fn usable() -> &'static [&'static Helper] {
    let pid = std::process::id();
    // SAFETY: `POOL` only ever holds null or a leaked, never freed `Pool`.
    if let Some(p) = unsafe { POOL.load(Ordering::Acquire).as_ref() } {
        if p.pid == pid {
            return &p.helpers;
        }
    }
    let claimed = SETUP.load(Ordering::Acquire);
    if claimed == pid
        || SETUP
            .compare_exchange(claimed, pid, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
    {
        return &[]; // another thread of this process is starting the pool
    }
    let pool: &'static Pool = Box::leak(Box::new(start_pool(pid)));
    POOL.store(pool as *const Pool as *mut Pool, Ordering::Release);
    &pool.helpers
}

/// Starts the helper threads (one per CPU beyond the first, or
/// `DYNMEM_THREADS` − 1, at most [`MAX_HELPERS`]); those that fail to start
/// are left out.
fn start_pool(pid: u32) -> Pool {
    let n = threads_wanted().saturating_sub(1).min(MAX_HELPERS);
    let mut helpers = Vec::with_capacity(n);
    for i in 0..n {
        let h: &'static Helper = Box::leak(Box::new(Helper::new()));
        let spawned = thread::Builder::new()
            .name(format!("dynmem-{}", i + 1))
            .spawn(move || h.main());
        if spawned.is_ok() {
            helpers.push(h);
        }
    }
    Pool { helpers, pid }
}

/// `DYNMEM_THREADS` if set to a positive number, else the CPUs available.
fn threads_wanted() -> usize {
    std::env::var("DYNMEM_THREADS")
        .ok()
        .and_then(|t| t.trim().parse::<usize>().ok())
        .filter(|&t| t > 0)
        .unwrap_or_else(|| thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Threads a join can use: the caller's and the helpers'.
pub fn threads() -> usize {
    usable().len() + 1
}

fn claim() -> Option<&'static Helper> {
    usable().iter().copied().find(|h| {
        h.busy
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    })
}

/// A closure and its result, on the stack of the `join` that owns it.
struct StackJob<F, R> {
    f: UnsafeCell<Option<F>>,
    result: UnsafeCell<Option<thread::Result<R>>>,
}

impl<F: FnOnce() -> R, R> StackJob<F, R> {
    /// # Safety
    /// `data` points at a live `StackJob<F, R>` that nothing else touches
    /// until the helper that runs this sets `finished`.
    unsafe fn execute(data: *const ()) {
        let job = unsafe { &*(data as *const StackJob<F, R>) };
        let f = unsafe { (*job.f.get()).take() }.expect("a job runs once");
        let r = panic::catch_unwind(AssertUnwindSafe(f));
        unsafe { *job.result.get() = Some(r) };
    }
}

/// Runs `a` here and `b` on an idle helper (or after `a`, if none is idle),
/// and returns both results. A panic in either is resumed here, after both
/// have finished.
pub fn join<A, B, RA, RB>(a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA,
    B: FnOnce() -> RB + Send,
    RB: Send,
{
    let Some(helper) = claim() else {
        return (a(), b());
    };
    let job = StackJob {
        f: UnsafeCell::new(Some(b)),
        result: UnsafeCell::new(None),
    };
    /// Waits for the helper and frees it, also when `a` panics: `job` must
    /// outlive the helper's use of it.
    struct Wait(&'static Helper);
    impl Drop for Wait {
        fn drop(&mut self) {
            self.0.wait();
            self.0.busy.store(false, Ordering::Release);
        }
    }
    helper.start(JobRef {
        data: &job as *const StackJob<B, RB> as *const (),
        run: StackJob::<B, RB>::execute,
    });
    let wait = Wait(helper);
    let ra = a();
    drop(wait);
    match job.result.into_inner().expect("the helper ran the job") {
        Ok(rb) => (ra, rb),
        Err(payload) => panic::resume_unwind(payload),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(xs: &[u64]) -> u64 {
        if xs.len() < 1000 {
            return xs.iter().sum();
        }
        let (l, r) = xs.split_at(xs.len() / 2);
        let (a, b) = join(|| sum(l), || sum(r));
        a + b
    }

    #[test]
    fn nested_joins_give_the_sequential_result() {
        let (n, reps) = if cfg!(miri) { (5_000, 3) } else { (100_000, 200) };
        let xs: Vec<u64> = (0..n).collect();
        for _ in 0..reps {
            assert_eq!(sum(&xs), n * (n - 1) / 2);
        }
    }

    #[test]
    fn joins_from_many_threads_at_once() {
        let (n, reps) = if cfg!(miri) { (4_000, 2) } else { (50_000, 100) };
        let xs: Vec<u64> = (0..n).collect();
        thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..reps {
                        assert_eq!(sum(&xs), n * (n - 1) / 2);
                    }
                });
            }
        });
    }

    #[test]
    fn parts_are_cut_evenly_at_multiples_of_64() {
        assert_eq!(crate::par::split_point(100_000, 1), 0);
        assert_eq!(crate::par::split_point(100_000, 2), 50_000 & !63);
        // 3 parts: the first cut leaves a third on the left, two on the right.
        assert_eq!(crate::par::split_point(100_000, 3), 33_333 & !63);
        assert_eq!(crate::par::split_point(100, 2), 0); // too small to cut
        for (n, parts) in [(65_536usize, 4usize), (1_000_003, 7), (49_152, 3)] {
            let mid = crate::par::split_point(n, parts);
            assert_eq!(mid % 64, 0);
            let share = n / parts;
            assert!(mid.abs_diff(share * (parts / 2)) < 64, "{n} in {parts}: cut at {mid}");
        }
    }

    #[test]
    fn a_panic_on_either_side_reaches_the_caller_and_the_pool_survives() {
        let r = panic::catch_unwind(|| join(|| 1, || -> u32 { panic!("b failed") }));
        assert!(r.is_err());
        let r = panic::catch_unwind(|| join(|| -> u32 { panic!("a failed") }, || sum(&[1; 5000])));
        assert!(r.is_err());
        assert_eq!(join(|| 2, || 3), (2, 3));
        assert_eq!(sum(&[7; 5000]), 35_000);
    }
}
