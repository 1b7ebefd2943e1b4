//! A tick in steady state allocates nothing: counted with a global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use dynmem_core::{Host, Mechanics, VmSpec};

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static COUNTING: AtomicBool = AtomicBool::new(false);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn host(n: usize, per_vm_mb: i64) -> Host {
    let policy = Mechanics {
        boot_report_delay_s: 0.0,
        ..Mechanics::default()
    };
    let mut h = Host::new(n as i64 * per_vm_mb, Some(0), policy).unwrap();
    for i in 0..n {
        let w = (i * 7919 % 10_001) as i64;
        let spec = VmSpec {
            startup_mb: 512,
            minimum_mb: Some(256),
            maximum_mb: 8192,
            weight: w,
            ..VmSpec::default()
        };
        let id = h.add_vm(&format!("v{i}"), &spec).unwrap();
        h.start(id).unwrap();
    }
    h
}

#[test]
fn steady_state_ticks_do_not_allocate() {
    // Plentiful, and contended with many VMs (the solver's scratch at full
    // size), the large host ticking in parts on two threads.
    for (n, per_vm) in [(5_000usize, 8192i64), (100_000, 1500)] {
        let mut h = host(n, per_vm);
        h.set_threads(2);
        let demands: Vec<Vec<i64>> = (0..3)
            .map(|k| (0..n).map(|i| 400 + ((i * 31 + k * 17) % 2500) as i64).collect())
            .collect();
        for d in demands.iter().cycle().take(9) {
            h.set_demands(d).unwrap();
            h.tick(1.0).unwrap(); // warm-up: the scratch buffers reach their size
        }
        ALLOCS.store(0, Ordering::SeqCst);
        COUNTING.store(true, Ordering::SeqCst);
        for round in 0..30 {
            h.set_demands(&demands[round % 3]).unwrap();
            h.tick(1.0).unwrap();
        }
        COUNTING.store(false, Ordering::SeqCst);
        let count = ALLOCS.load(Ordering::SeqCst);
        assert_eq!(count, 0, "n = {n}: {count} allocations during steady-state ticks");
    }
}
