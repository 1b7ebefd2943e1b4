//! Random operation sequences on a host, checked after every operation:
//! the one piece the cargo-fuzz target (`fuzz/fuzz_targets/ops.rs`, bytes
//! from libFuzzer) and the seeded test below (`cargo test`, bytes from a
//! seeded generator) share. Not part of the API: built for tests and with
//! the `fuzzing` feature.
//!
//! [`run`] reads a host's settings and then operations from the bytes (past
//! their end every byte reads 0), with valid, edge and hostile values, and
//! applies each to two hosts: one with the widest vector form the CPU has,
//! one capped at the scalar form. After each it checks that
//! - both hosts returned the same result and hold bit-identical states;
//! - an operation that failed changed nothing (the state dumps before and
//!   after are equal);
//! - Σ assigned + reserve ≤ physical, available memory adds up, every
//!   running dynamic VM holds minimum ≤ assigned ≤ maximum (starting and
//!   static ones their startup memory, off ones nothing), assigned is a
//!   multiple of the balloon unit and visible ≥ assigned, and Average
//!   Pressure lies in [Minimum, Maximum].
//!
//! A violated check panics with the operation's number and what it was.

use crate::config::{VmChange, VmSpec};
use crate::host::Host;
use crate::mechanics::Mechanics;
use crate::model::{VmId, VmState};
use crate::policy::Policy;
use crate::run::{Action, Event};
use crate::simd::VectorCap;
use std::fmt::Write;

/// Operations one input may run, at most.
pub const MAX_OPS: usize = 256;

/// The fuzzer's bytes, read front to back; 0 past the end.
pub struct Bytes<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Bytes<'a> {
    pub fn new(data: &'a [u8]) -> Bytes<'a> {
        Bytes { data, pos: 0 }
    }
    pub fn done(&self) -> bool {
        self.pos >= self.data.len()
    }
    pub fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn below(&mut self, n: usize) -> usize {
        self.u8() as usize % n
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }
    fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }
    /// A size in MB: a valid one, or an edge or hostile value.
    fn size(&mut self) -> i64 {
        match self.below(4) {
            0 => self.pick(&[i64::MIN, -2, 0, 1, 30, 31, 32, 33, 1 << 20, (1 << 20) + 2, i64::MAX]),
            _ => 32 + 2 * (self.u8() as i64 * (1 + self.below(16) as i64)),
        }
    }
    fn demand(&mut self) -> i64 {
        match self.below(4) {
            0 => self.pick(&[-1, 0, 1, 31, u32::MAX as i64, u32::MAX as i64 + 1, i64::MIN, i64::MAX]),
            _ => self.u32() as i64 % 6000,
        }
    }
    fn dt(&mut self) -> f64 {
        let any = self.u8() as f64 / 8.0;
        self.pick(&[
            1.0,
            1.0,
            0.5,
            45.0,
            86_400.0,
            1e-9,
            5e-324,
            0.0,
            -1.0,
            86_400.5,
            f64::NAN,
            f64::INFINITY,
            any,
        ])
    }
    fn spec(&mut self) -> VmSpec {
        VmSpec {
            startup_mb: self.size(),
            minimum_mb: if self.bool() { None } else { Some(self.size()) },
            maximum_mb: if self.bool() { 1 << 20 } else { self.size() },
            buffer_pct: self.pick(&[20, 5, 2000, 4, 2001, -1, 100]),
            weight: self.pick(&[5000, 0, 1, 10_000, 10_001, -1, 7777]),
            dynamic: self.u8() & 3 != 0,
        }
    }
    fn name(&mut self) -> &'static str {
        self.pick(&[
            "a",
            "b",
            "c",
            "d",
            "e",
            "f",
            "g",
            "h",
            "",
            "a\0",
            "é",
            "vm with a long name",
        ])
    }
    fn change(&mut self) -> VmChange {
        fn opt(b: &mut Bytes<'_>, f: impl FnOnce(&mut Bytes<'_>) -> i64) -> Option<i64> {
            if b.bool() {
                Some(f(b))
            } else {
                None
            }
        }
        VmChange {
            startup_mb: opt(self, |b| b.size()),
            minimum_mb: opt(self, |b| b.size()),
            maximum_mb: opt(self, |b| b.size()),
            buffer_pct: opt(self, |b| b.pick(&[5, 50, 2000, 2001, -1])),
            weight: opt(self, |b| b.pick(&[0, 1, 5000, 10_000, 10_001])),
            dynamic: if self.bool() { Some(self.bool()) } else { None },
        }
    }
}

/// Guest profile `k` of an [`Op::Add`]: Windows, Linux, a stuck and a slow
/// driver, and a bad one (a negative delay).
fn guest_of(k: u8) -> crate::Guest {
    let g = crate::Guest::windows();
    match k {
        1 => crate::Guest::linux(),
        2 => crate::Guest {
            name: "stuck".into(),
            report_delay_s: Some(f64::INFINITY),
            ..g
        },
        3 => crate::Guest {
            name: "slow".into(),
            report_delay_s: Some(2.5),
            hot_add: crate::HotAdd::Chunk(1024),
            ..crate::Guest::linux()
        },
        4 => crate::Guest {
            report_delay_s: Some(-1.0),
            ..g
        },
        _ => g,
    }
}

/// One operation, as read from the bytes (applied alike to both hosts).
#[derive(Debug, Clone)]
pub enum Op {
    /// With guest profile `k` of [`guest_of`] (0: `add_vm`, the default).
    Add(&'static str, VmSpec, u8),
    AddMany(Vec<&'static str>, Vec<VmSpec>),
    Start(VmId),
    StartMany(Vec<VmId>),
    Stop(VmId),
    StopMany(Vec<VmId>),
    Remove(VmId),
    Configure(VmId, VmChange),
    SetDemand(VmId, i64),
    SetDemands(Vec<i64>),
    Tick(f64),
    Restart(VmId),
    Run {
        demand: Vec<i64>,
        ticks: usize,
        dt: f64,
        events: Vec<Event>,
        every: usize,
    },
}

impl Op {
    /// The next operation; VMs are mostly the host's, sometimes unknown ones.
    pub fn read(b: &mut Bytes<'_>, host: &Host) -> Op {
        let ids = host.ids();
        let id = |b: &mut Bytes<'_>| match b.below(8) {
            0 => b.pick(&[VmId(u64::MAX), VmId(ids.len() as u64 + 7)]),
            _ if ids.is_empty() => VmId(0),
            _ => ids[b.below(ids.len())],
        };
        let some = |b: &mut Bytes<'_>| (0..b.below(5)).map(|_| id(b)).collect::<Vec<_>>();
        match b.below(15) {
            0 | 1 => Op::Add(b.name(), b.spec(), b.pick(&[0, 0, 1, 2, 3, 4])),
            2 => {
                let k = b.below(4);
                let names = (0..k).map(|_| b.name()).collect();
                let specs = (0..k + usize::from(b.below(8) == 0)).map(|_| b.spec()).collect();
                Op::AddMany(names, specs)
            }
            3 | 4 => Op::Start(id(b)),
            5 => Op::StartMany(some(b)),
            6 => Op::Stop(id(b)),
            7 => Op::StopMany(some(b)),
            8 => Op::Remove(id(b)),
            9 => Op::Configure(id(b), b.change()),
            10 => Op::SetDemand(id(b), b.demand()),
            11 => {
                let n = (ids.len() + b.pick(&[0, 0, 0, 1])).saturating_sub(b.pick(&[0, 0, 0, 1]));
                Op::SetDemands((0..n).map(|_| b.demand()).collect())
            }
            12 => Op::Tick(b.dt()),
            13 => Op::Restart(id(b)),
            _ => {
                let ticks = b.below(5);
                let cells = (ticks * ids.len()).saturating_sub(usize::from(b.below(16) == 0));
                let events = (0..b.below(3))
                    .map(|_| Event {
                        tick: b.below(6) as u64,
                        vm: id(b),
                        action: match b.below(4) {
                            0 => Action::Start,
                            1 => Action::Stop,
                            2 => Action::Restart,
                            _ => Action::Configure(b.change()),
                        },
                    })
                    .collect();
                Op::Run {
                    demand: (0..cells).map(|_| b.demand()).collect(),
                    ticks,
                    dt: b.dt(),
                    events,
                    every: b.pick(&[1, 1, 2, 0, usize::MAX]),
                }
            }
        }
    }

    /// Applies the operation; its result, as text (errors and all).
    pub fn apply(&self, h: &mut Host) -> String {
        match self {
            Op::Add(name, spec, 0) => format!("{:?}", h.add_vm(name, spec)),
            Op::Add(name, spec, k) => format!("{:?}", h.add_vm_with_guest(name, spec, &guest_of(*k))),
            Op::AddMany(names, specs) => format!("{:?}", h.add_vms(names, specs)),
            Op::Start(id) => format!("{:?}", h.start(*id)),
            Op::StartMany(ids) => format!("{:?}", h.start_many(ids)),
            Op::Stop(id) => format!("{:?}", h.stop(*id)),
            Op::Restart(id) => format!("{:?}", h.restart(*id)),
            Op::StopMany(ids) => format!("{:?}", h.stop_many(ids)),
            Op::Remove(id) => format!("{:?}", h.remove_vm(*id)),
            Op::Configure(id, change) => format!("{:?}", h.configure(*id, change)),
            Op::SetDemand(id, d) => format!("{:?}", h.set_demand(*id, *d)),
            Op::SetDemands(ds) => format!("{:?}", h.set_demands(ds)),
            Op::Tick(dt) => format!("{:?}", h.tick(*dt)),
            Op::Run {
                demand,
                ticks,
                dt,
                events,
                every,
            } => {
                format!("{:?}", h.run(demand, *ticks, *dt, events, *every))
            }
        }
    }
}

/// Everything a caller can read of a host, as text (floats exactly: `{:?}`
/// prints the shortest decimal that reads back to the same bits).
pub fn dump(h: &Host) -> String {
    let mut s = format!(
        "{:?} physical {} reserve {} time {:?} available {} len {} {:?}\n",
        h.version(),
        h.physical_mb(),
        h.reserve_mb(),
        h.time_s(),
        h.available_mb(),
        h.len(),
        h.host_counters()
    );
    let _ = writeln!(s, "guests {:?}", h.guest_profiles());
    if h.numa_nodes_mb().len() > 1 {
        let _ = writeln!(
            s,
            "numa {:?} spanning {} available {:?} nodes {:?}",
            h.numa_nodes_mb(),
            h.numa_spanning(),
            h.numa_available_mb(),
            h.numa_node_of_vms()
        );
    }
    for vm in h.vms() {
        let _ = writeln!(
            s,
            "{:?} {:?} {:?} {:?} d{} a{} v{} t{} {:?} {:?} p{} r{:?} {:?} g{} m{}",
            vm.id(),
            vm.name(),
            vm.config(),
            vm.state(),
            vm.demand_mb(),
            vm.assigned_mb(),
            vm.visible_mb(),
            vm.target_mb(),
            vm.pressure(),
            vm.status(),
            vm.paging_mb(),
            vm.running_s(),
            vm.counters(),
            h.guest_indices()[vm.position()],
            vm.effective_minimum_mb()
        );
    }
    s
}

/// The invariants of every state (see the module's documentation).
pub fn check_invariants(h: &Host) -> Result<(), String> {
    let u = h.mechanics().balloon_unit_mb;
    let total: u64 = h.vms().map(|vm| vm.assigned_mb() as u64).sum();
    if total + h.reserve_mb() > h.physical_mb() {
        return Err(format!(
            "Σ assigned {total} + reserve {} > physical {}",
            h.reserve_mb(),
            h.physical_mb()
        ));
    }
    if h.available_mb() != h.physical_mb() as i64 - h.reserve_mb() as i64 - total as i64 {
        return Err(format!("available {} does not add up", h.available_mb()));
    }
    let paging = h.vms().filter(|vm| vm.smart_paging_mb() > 0).count();
    if paging != h.paging_vms() {
        return Err(format!("{paging} VMs page, the host counts {}", h.paging_vms()));
    }
    for vm in h.vms() {
        let (c, a, v) = (vm.config(), vm.assigned_mb(), vm.visible_mb());
        let ok = match vm.state() {
            VmState::Off => a == 0 && v == 0,
            // (Never below the guest's balloon floor either.)
            VmState::Running if c.dynamic => c.minimum_mb.max(vm.balloon_floor_mb()) <= a && a <= c.maximum_mb,
            // A VM restarted short of memory holds the rest in its Smart Paging file.
            _ => a + vm.smart_paging_mb() == c.startup_mb,
        };
        let reported = (vm.demand_mb() as u64 + vm.balloon_floor_mb() as u64).min(u32::MAX as u64);
        let ok = ok && vm.guest_reported_mb() as u64 == reported && vm.effective_minimum_mb() <= c.startup_mb;
        // Smart Paging: on dynamic VMs only, and while its file exists the
        // guest's memory (RAM + file) fits what it sees.
        let sp = vm.smart_paging_mb();
        let paging_ok = sp == 0 || (c.dynamic && vm.state() != VmState::Off && a + sp <= v && sp % u == 0);
        if !paging_ok {
            return Err(format!(
                "VM {:?}: Smart Paging {sp} MB, assigned {a}, visible {v}",
                vm.name()
            ));
        }
        let k = vm.counters();
        let stats = k.minimum_pressure <= k.average_pressure && k.average_pressure <= k.maximum_pressure;
        if !ok || a % u != 0 || v < a || !stats {
            return Err(format!(
                "VM {:?} ({:?}, {c:?}): assigned {a}, visible {v}, {k:?}",
                vm.name(),
                vm.state()
            ));
        }
    }
    Ok(())
}

/// The marks' invariant (`Vms::dirty`): a VM that is on and not marked has
/// the pressure of its open interval, bit for bit; one that is off has none
/// open. What keeps the pressure statistics exact while pass 2 samples only
/// marked VMs and VMs whose memory it moved.
fn check_marks(h: &Host) -> Result<(), String> {
    let (_, _, v) = h.parts();
    for pos in 0..v.len() {
        let marked = v.dirty.get(pos / 64).is_none_or(|w| w >> (pos % 64) & 1 != 0);
        let (on, now) = (v.flags[pos] & crate::model::STATE_MASK != 0, v.p_now[pos]);
        let p = crate::model::pressure_of(v.demand[pos], v.assigned[pos]);
        if if on {
            !marked && now.to_bits() != p.to_bits()
        } else {
            !now.is_nan()
        } {
            return Err(format!(
                "VM at {pos}: open pressure {now}, pressure {p}, marked {marked}"
            ));
        }
    }
    Ok(())
}

/// Runs the operations `data` describes on a default host and a scalar one
/// that ticks densely (no quiet ticks), checking after each; returns how many ran. Panics on a failed check.
pub fn run(data: &[u8]) -> usize {
    let mut b = Bytes::new(data);
    let physical = match b.below(8) {
        0 => b.pick(&[-1, 0, 1, 256, 1 << 40, (1 << 40) + 1]),
        _ => 512 + 64 * (b.u8() as i64 * (1 + b.below(8) as i64)),
    };
    let reserve = match b.below(4) {
        0 => None,
        1 => Some(b.pick(&[-1, 0, physical, physical - 1])),
        _ => Some(b.u8() as i64),
    };
    let policy = Mechanics {
        balloon_unit_mb: b.pick(&[2, 2, 1, 4, 8]),
        hot_add_chunk_mb: b.pick(&[128, 8, 64, 24]),
        boot_report_delay_s: b.pick(&[0.0, 1.0, 45.0]),
        remove_delay_s: b.pick(&[0.0, 2.5, 5.0]),
        remove_rate_mb_per_s: b.pick(&[1.0, 256.0, 1000.5]),
    };
    // Half the inputs under Hyper-V's rule, the rest under the others.
    let rule = match b.below(8) {
        4 => Policy::Static,
        5 => Policy::Proportional,
        6 => Policy::Shares {
            idle_tax: b.pick(&[0.0, 0.75, 0.5, 0.99]),
        },
        7 => Policy::StrictPriority,
        _ => Policy::HyperV,
    };
    let (Ok(mut wide), Ok(mut scalar)) = (
        Host::new(physical, reserve, policy.clone()).and_then(|h| h.with_policy(rule.clone())),
        Host::new(physical, reserve, policy).and_then(|h| h.with_policy(rule)),
    ) else {
        return 0;
    };
    scalar.set_vector_cap(VectorCap::Scalar);
    scalar.set_sparse(false); // dense ticks: the sparse paths must match them
    let mut ops = 0;
    while !b.done() && ops < MAX_OPS {
        let op = Op::read(&mut b, &wide);
        let before = dump(&wide);
        let got = op.apply(&mut wide);
        let want = op.apply(&mut scalar);
        let after = dump(&wide);
        ops += 1;
        let fail =
            |what: &str| -> ! { panic!("op {ops}, {op:?}: {what}\nresult {got}\nbefore\n{before}after\n{after}") };
        if got != want {
            fail(&format!("the scalar host returned {want}"));
        }
        if after != dump(&scalar) {
            fail(&format!("the scalar host differs:\n{}", dump(&scalar)));
        }
        if got.starts_with("Err") && after != before {
            fail("a failed operation changed the host");
        }
        if let Err(e) = check_invariants(&wide).and_then(|_| check_marks(&wide)) {
            fail(&e);
        }
    }
    ops
}

#[cfg(test)]
mod tests {
    /// The fuzz target's checks on seeded random bytes (a few seconds; the
    /// same inputs every run): what CI runs without nightly.
    #[test]
    fn seeded_random_operations_hold_every_check() {
        let mut rnd = crate::tests::xorshift(0x9E37_79B9_7F4A_7C15);
        let (mut ops, mut inputs) = (0, 0);
        while ops < if cfg!(miri) { 300 } else { 60_000 } {
            let len = 64 + rnd(1500) as usize;
            let data: Vec<u8> = (0..len).map(|_| rnd(256) as u8).collect();
            ops += super::run(&data);
            inputs += 1;
        }
        assert!(inputs > if cfg!(miri) { 1 } else { 100 }, "{inputs} inputs");
    }
}
