//! Snapshots: a [`Host`] or a [`Fleet`] as bytes of one versioned format
//! (`codec.rs`), and back. A restored object continues exactly as the
//! original would: every column, counter (with its carries), clock, name
//! and id is kept, and Σ assigned is recomputed. How a tick may run
//! (threads, vector cap) and the solver's first guesses are not state and
//! are not kept (results never depend on them).
//!
//! Reading checks the header, version, kind and checksum, then every value
//! a host's operations rely on (lengths, states, sizes against the
//! settings' rules, unique names, increasing ids, Σ assigned within the
//! host), so that a corrupted or foreign snapshot is a `Config` error on
//! field `snapshot`, never a panic later.

pub mod codec;
mod fleet;

use crate::config::{VmSpec, MAX_DEMAND_MB};
use crate::error::Result;
use crate::fleet::Fleet;
use crate::guest::{BalloonFloor, Guest, HotAdd};
use crate::host::{Host, PagingFile};
use crate::mechanics::Mechanics;
use crate::model::guests::MAX_GUESTS;
use crate::model::names::Names;
use crate::model::{Counter, GuestTable, Vms, DYNAMIC, STATE_MASK};
use crate::policy::{External, Policy};
use crate::version::Version;
use codec::{bad, tag, Kind, Reader, Writer};
use std::sync::Arc;

pub use codec::FORMAT_VERSION;

impl Host {
    /// The host as a snapshot (see the module's documentation). A host with
    /// an external policy records only that it has one (the rule itself is
    /// not the core's to write).
    pub fn snapshot(&self) -> Vec<u8> {
        let mut w = Writer::new(Kind::Host);
        put_mechanics(&mut w, self.mechanics());
        put_policy(&mut w, self.policy());
        put_host(&mut w, self);
        w.finish()
    }

    /// The host a snapshot holds, or a `Config` error on `snapshot`.
    pub fn from_snapshot(data: &[u8]) -> Result<Host> {
        Host::from_snapshot_with(data, None)
    }

    /// [`Host::from_snapshot`], with the external rule to give a host whose
    /// snapshot says it had one (an error without it; ignored otherwise).
    pub fn from_snapshot_with(data: &[u8], external: Option<Arc<dyn External>>) -> Result<Host> {
        let mut r = Reader::open(data, Kind::Host)?;
        let mech = get_mechanics(&mut r)?;
        let policy = get_policy(&mut r, external)?;
        let host = get_host(&mut r, &mech)?
            .with_policy(policy)
            .map_err(|e| bad(format!("its policy: {}", e.message)))?;
        r.expect(tag::END)?;
        r.done()?;
        Ok(host)
    }
}

/// The policy block: a kind byte (0 Hyper-V, 1 static, 2 proportional,
/// 3 shares with its idle tax as f64, 4 strict priority, 5 external).
pub(crate) fn put_policy(w: &mut Writer, p: &Policy) {
    w.block(tag::POLICY, |w| match *p {
        Policy::HyperV => w.u8(0),
        Policy::Static => w.u8(1),
        Policy::Proportional => w.u8(2),
        Policy::Shares { idle_tax } => {
            w.u8(3);
            w.f64(idle_tax);
        }
        Policy::StrictPriority => w.u8(4),
        Policy::External(_) => w.u8(5),
    });
}

/// The policy block's policy; an external one is `external`, which the
/// caller must then give.
pub(crate) fn get_policy(r: &mut Reader<'_>, external: Option<Arc<dyn External>>) -> Result<Policy> {
    let mut b = r.expect(tag::POLICY)?;
    let p = match b.u8()? {
        0 => Policy::HyperV,
        1 => Policy::Static,
        2 => Policy::Proportional,
        3 => Policy::Shares { idle_tax: b.f64()? },
        4 => Policy::StrictPriority,
        5 => match external {
            Some(rule) => Policy::External(rule),
            None => {
                return Err(crate::error::Error::config(
                    "policy",
                    crate::error::Value::None,
                    "must be given to restore this snapshot: its host had a user policy, which a snapshot \
                     does not hold (pass the policy object)",
                ))
            }
        },
        k => return Err(bad(format!("policy kind {k}"))),
    };
    b.done()?;
    p.validate().map_err(|e| bad(format!("its policy: {}", e.message)))?;
    Ok(p)
}

impl Fleet {
    /// The fleet as a snapshot.
    pub fn snapshot(&self) -> Vec<u8> {
        fleet::put(self)
    }
    /// The fleet a snapshot holds, or a `Config` error on `snapshot`.
    pub fn from_snapshot(data: &[u8]) -> Result<Fleet> {
        fleet::get(data)
    }
}

pub(crate) fn put_mechanics(w: &mut Writer, m: &Mechanics) {
    w.block(tag::MECHANICS, |w| {
        w.u32(m.balloon_unit_mb);
        w.u32(m.hot_add_chunk_mb);
        w.f64(m.boot_report_delay_s);
        w.f64(m.remove_delay_s);
        w.f64(m.remove_rate_mb_per_s);
    });
}

pub(crate) fn get_mechanics(r: &mut Reader<'_>) -> Result<Mechanics> {
    let mut b = r.expect(tag::MECHANICS)?;
    let m = Mechanics {
        balloon_unit_mb: b.u32()?,
        hot_add_chunk_mb: b.u32()?,
        boot_report_delay_s: b.f64()?,
        remove_delay_s: b.f64()?,
        remove_rate_mb_per_s: b.f64()?,
    };
    b.done()?;
    m.validate().map_err(|e| bad(format!("its mechanics: {}", e.message)))?;
    Ok(m)
}

fn counter_code(k: Counter) -> u8 {
    match k {
        Counter::Added => 0,
        Counter::Removed => 1,
        Counter::AddOps => 2,
        Counter::RemoveOps => 3,
    }
}

pub(crate) fn put_host(w: &mut Writer, h: &Host) {
    let (next_id, names, v) = h.parts();
    w.block(tag::HOST, |w| {
        w.u64(h.physical_mb());
        w.u64(h.reserve_mb());
        w.f64(h.time_s());
        w.u64(next_id);
        w.u64(v.len() as u64);
        for pos in 0..v.len() {
            w.str(names.get(pos));
        }
        let ids: Vec<u64> = v.ids.iter().collect();
        w.vec(&ids, Writer::u64);
        w.vec(&v.flags, Writer::u8);
        // The configured minimum (the effective one follows from the guest).
        let min_config = if v.min_config.is_empty() {
            &v.minimum
        } else {
            &v.min_config
        };
        for col in [&v.startup, min_config, &v.maximum] {
            w.vec(col, Writer::u32);
        }
        w.vec(&v.buffer, Writer::u16);
        w.vec(&v.weight, Writer::u16);
        for col in [&v.demand, &v.assigned, &v.visible] {
            w.vec(col, Writer::u32);
        }
        w.vec(&v.clock_s, Writer::f64);
        for col in [&v.added, &v.removed, &v.add_ops, &v.remove_ops] {
            w.vec(col, Writer::u32);
        }
        for col in [&v.p_sum, &v.run_mark, &v.p_min, &v.p_max] {
            w.vec(col, Writer::f64);
        }
        w.u64(v.carries.len() as u64);
        for (&(id, k), &sum) in &v.carries {
            w.u64(id);
            w.u8(counter_code(k));
            w.u64(sum);
        }
        w.u8(h.version() as u8);
        w.vec(&v.smart_paging, Writer::u32);
        put_guests(w, v);
        let paging = h.smart_paging();
        w.f64(paging.drain_s);
        w.u64(paging.files.len() as u64);
        for f in &paging.files {
            w.u64(f.id);
            w.f64(f.deadline_s);
            w.u32(f.gap_mb);
        }
        // v4: NUMA nodes (none: an empty list), spanning, each VM's node.
        let (sizes, spanning, node) = h.numa_parts().unwrap_or((&[], true, &[]));
        w.vec(sizes, Writer::u64);
        w.u8(spanning as u8);
        w.vec(node, Writer::u8);
        w.vec(&v.p_now, Writer::f64);
    });
}

/// Format 4: the host's guest profiles (count u16; each: name, report
/// delay (u8 0 the policy's, 1 then f64 s), floor u8 (0 none, 1
/// hv_balloon), hot-add u8 (0 the policy's, 1 then u32 MB, 2 memory
/// blocks)), then each VM's profile index (u8).
fn put_guests(w: &mut Writer, v: &Vms) {
    w.u16(v.guests.profiles.len() as u16);
    for g in &v.guests.profiles {
        w.str(&g.name);
        match g.report_delay_s {
            None => w.u8(0),
            Some(d) => {
                w.u8(1);
                w.f64(d);
            }
        }
        w.u8(match g.balloon_floor {
            BalloonFloor::None => 0,
            BalloonFloor::HvBalloon => 1,
        });
        match g.hot_add {
            HotAdd::Policy => w.u8(0),
            HotAdd::Chunk(c) => {
                w.u8(1);
                w.u32(c);
            }
            HotAdd::MemoryBlocks => w.u8(2),
        }
    }
    w.vec(&v.guest, Writer::u8);
}

/// The guest profiles [`put_guests`] wrote, into `v` (its `min_config`
/// read): the table, the column, the effective minimums; checks that the
/// demands carry their floors.
fn get_guests(b: &mut Reader<'_>, v: &mut Vms, mech: &Mechanics) -> Result<()> {
    let count = b.u16()? as usize;
    if count == 0 || count > MAX_GUESTS {
        return Err(bad(format!("{count} guest profiles")));
    }
    let mut table = GuestTable::new(mech);
    for k in 0..count {
        let name = b.str()?.to_string();
        let report_delay_s = match b.u8()? {
            0 => None,
            1 => Some(b.f64()?),
            t => return Err(bad(format!("guest report delay kind {t}"))),
        };
        let balloon_floor = match b.u8()? {
            0 => BalloonFloor::None,
            1 => BalloonFloor::HvBalloon,
            t => return Err(bad(format!("guest balloon floor kind {t}"))),
        };
        let hot_add = match b.u8()? {
            0 => HotAdd::Policy,
            1 => HotAdd::Chunk(b.u32()?),
            2 => HotAdd::MemoryBlocks,
            t => return Err(bad(format!("guest hot-add kind {t}"))),
        };
        let g = Guest {
            name,
            report_delay_s,
            balloon_floor,
            hot_add,
        };
        table
            .check(&g, "guest", 0)
            .map_err(|e| bad(format!("guest profile {k}: {}", e.message)))?;
        if table.intern(&g, mech) as usize != k {
            return Err(bad(format!(
                "guest profile {k} ({:?}) repeated or not the default first",
                g.name
            )));
        }
    }
    v.guest = b.vec(1, Reader::u8)?;
    if v.guest.len() != v.len() {
        return Err(bad(format!("guest has {} entries for {} VMs", v.guest.len(), v.len())));
    }
    v.minimum.clear();
    for pos in 0..v.len() {
        let k = v.guest[pos];
        if k as usize >= count {
            return Err(bad(format!("VM at position {pos}: guest profile {k}")));
        }
        let floor = table.floor(k, v.startup[pos]);
        if v.demand[pos] < floor {
            return Err(bad(format!("VM at position {pos}: demand below its balloon floor")));
        }
        v.minimum.push(v.min_config[pos].max(floor));
    }
    if !table.floors {
        v.min_config = Vec::new(); // every configured minimum is the effective one
    }
    v.guests = table;
    Ok(())
}

pub(crate) fn get_host(r: &mut Reader<'_>, mech: &Mechanics) -> Result<Host> {
    let mut b = r.expect(tag::HOST)?;
    let physical = b.u64()?;
    let reserve = b.u64()?;
    let base = Host::new(
        physical.min(i64::MAX as u64) as i64,
        Some(reserve.min(i64::MAX as u64) as i64),
        mech.clone(),
    )
    .map_err(|e| bad(format!("its host: {}", e.message)))?;
    let time_s = b.f64()?;
    if !(time_s.is_finite() && time_s >= 0.0) {
        return Err(bad(format!("host time {time_s}")));
    }
    let next_id = b.u64()?;
    let n = b.len(8)?;
    let mut names = Names::default();
    for pos in 0..n {
        let name = b.str()?;
        if name.trim().is_empty() || names.find(name).is_some() {
            return Err(bad(format!("VM name {name:?} at position {pos} is empty or repeated")));
        }
        names.push(name);
    }
    let mut v = Vms::default();
    let ids = b.vec(8, Reader::u64)?;
    let col_len = |len: usize, what: &str| {
        if len == n {
            Ok(())
        } else {
            Err(bad(format!("{what} has {len} entries for {n} VMs")))
        }
    };
    col_len(ids.len(), "ids")?;
    for (k, &id) in ids.iter().enumerate() {
        if id == 0 || id >= next_id || (k > 0 && id <= ids[k - 1]) {
            return Err(bad(format!(
                "VM id {id} at position {k} (ids increase from 1 below {next_id})"
            )));
        }
        v.ids.push(id);
    }
    v.flags = b.vec(1, Reader::u8)?;
    v.startup = b.vec(4, Reader::u32)?;
    v.min_config = b.vec(4, Reader::u32)?;
    v.maximum = b.vec(4, Reader::u32)?;
    v.buffer = b.vec(2, Reader::u16)?;
    v.weight = b.vec(2, Reader::u16)?;
    v.demand = b.vec(4, Reader::u32)?;
    v.assigned = b.vec(4, Reader::u32)?;
    v.visible = b.vec(4, Reader::u32)?;
    v.clock_s = b.vec(8, Reader::f64)?;
    v.added = b.vec(4, Reader::u32)?;
    v.removed = b.vec(4, Reader::u32)?;
    v.add_ops = b.vec(4, Reader::u32)?;
    v.remove_ops = b.vec(4, Reader::u32)?;
    v.p_sum = b.vec(8, Reader::f64)?;
    v.run_mark = b.vec(8, Reader::f64)?;
    v.p_min = b.vec(8, Reader::f64)?;
    v.p_max = b.vec(8, Reader::f64)?;
    for (len, what) in [
        (v.flags.len(), "flags"),
        (v.startup.len(), "startup"),
        (v.min_config.len(), "minimum"),
        (v.maximum.len(), "maximum"),
        (v.buffer.len(), "buffer"),
        (v.weight.len(), "weight"),
        (v.demand.len(), "demand"),
        (v.assigned.len(), "assigned"),
        (v.visible.len(), "visible"),
        (v.clock_s.len(), "clock"),
        (v.added.len(), "added"),
        (v.removed.len(), "removed"),
        (v.add_ops.len(), "add_ops"),
        (v.remove_ops.len(), "remove_ops"),
        (v.p_sum.len(), "p_sum"),
        (v.run_mark.len(), "run_mark"),
        (v.p_min.len(), "p_min"),
        (v.p_max.len(), "p_max"),
    ] {
        col_len(len, what)?;
    }
    let mut sum = 0u64;
    for pos in 0..n {
        let f = v.flags[pos];
        if f & !(STATE_MASK | DYNAMIC) != 0 || f & STATE_MASK == 3 {
            return Err(bad(format!("VM flags {f} at position {pos}")));
        }
        let spec = VmSpec {
            startup_mb: v.startup[pos] as i64,
            minimum_mb: Some(v.min_config[pos] as i64),
            maximum_mb: v.maximum[pos] as i64,
            buffer_pct: v.buffer[pos] as i64,
            weight: v.weight[pos] as i64,
            dynamic: f & DYNAMIC != 0,
        };
        spec.validate(mech.balloon_unit_mb)
            .map_err(|e| bad(format!("VM at position {pos}: {}", e.message)))?;
        let (a, off) = (v.assigned[pos], f & STATE_MASK == 0);
        if (off && (a != 0 || v.visible[pos] != 0)) || a > v.maximum[pos] || v.demand[pos] as u64 > MAX_DEMAND_MB {
            return Err(bad(format!(
                "VM at position {pos}: assigned {a} MB in state {}",
                f & STATE_MASK
            )));
        }
        sum += a as u64;
    }
    if sum + reserve > physical {
        return Err(bad(format!(
            "Σ assigned {sum} MB + reserve {reserve} MB exceeds physical {physical} MB"
        )));
    }
    let carries = b.len(17)?;
    for _ in 0..carries {
        let (id, k, c) = (b.u64()?, b.u8()?, b.u64()?);
        let k = match k {
            0 => Counter::Added,
            1 => Counter::Removed,
            2 => Counter::AddOps,
            3 => Counter::RemoveOps,
            k => return Err(bad(format!("counter {k}"))),
        };
        if v.ids.position(id).is_none() || c & (u32::MAX as u64) != 0 {
            return Err(bad(format!("counter carry of VM {id}")));
        }
        v.carries.insert((id, k), c);
    }
    let release = b.u8()?;
    let Some(&release) = Version::ALL.get(release as usize) else {
        return Err(bad(format!("Windows Server release {release}")));
    };
    let base = base.with_version(release).map_err(|e| bad(e.message))?;
    if !release.has_separate_minimum() {
        // 2008 R2 SP1 has no minimum apart from startup (host/versioned.rs).
        if let Some(pos) = (0..n).find(|&p| v.min_config[p] != v.startup[p]) {
            return Err(bad(format!(
                "VM at position {pos}: minimum {} MB on a 2008 R2 SP1 host (startup {} MB)",
                v.min_config[pos], v.startup[pos]
            )));
        }
    }
    v.smart_paging = b.vec(4, Reader::u32)?;
    col_len(v.smart_paging.len(), "smart_paging")?;
    for pos in 0..n {
        let p = v.smart_paging[pos];
        if p != 0 && (v.flags[pos] & STATE_MASK == 0 || v.flags[pos] & DYNAMIC == 0 || p > v.startup[pos]) {
            return Err(bad(format!("VM at position {pos}: Smart Paging {p} MB")));
        }
    }
    get_guests(&mut b, &mut v, mech)?;
    let drain_s = b.f64()?;
    let base = base
        .with_smart_paging_drain_s(drain_s)
        .map_err(|e| bad(format!("its host: {}", e.message)))?;
    let files = get_paging_files(&mut b, &v)?;
    let sizes = b.vec(8, Reader::u64)?;
    let spanning = match b.u8()? {
        0 => false,
        1 => true,
        x => return Err(bad(format!("NUMA spanning {x}"))),
    };
    let node = b.vec(1, Reader::u8)?;
    let sizes: Vec<i64> = sizes.iter().map(|&s| s.min(i64::MAX as u64) as i64).collect();
    let base = if sizes.is_empty() {
        base
    } else {
        base.with_numa(&sizes, spanning).map_err(|e| bad(e.message))?
    };
    v.p_now = b.vec(8, Reader::f64)?;
    col_len(v.p_now.len(), "p_now")?;
    for pos in 0..n {
        // An open pressure interval (a pressure, ≥ 0) only on a VM that is on.
        let (p, off) = (v.p_now[pos], v.flags[pos] & STATE_MASK == 0);
        if !(p.is_nan() || (!off && p >= 0.0 && p.is_finite())) {
            return Err(bad(format!("VM at position {pos}: open pressure {p}")));
        }
    }
    b.done()?;
    Host::from_parts(base, time_s, next_id, names, v, files)
        .with_numa_nodes(node)
        .map_err(bad)
}

/// The VMs using a Smart Paging file: ids increasing, each a VM whose
/// `smart_paging` column is nonzero and at most the file's size at the
/// restart, every such VM listed once, deadlines finite.
fn get_paging_files(b: &mut Reader<'_>, v: &Vms) -> Result<Vec<PagingFile>> {
    let count = b.len(20)?;
    let mut files = Vec::with_capacity(count);
    for _ in 0..count {
        let f = PagingFile {
            id: b.u64()?,
            deadline_s: b.f64()?,
            gap_mb: b.u32()?,
        };
        let pos = v.ids.position(f.id);
        let ok = pos.is_some_and(|pos| {
            let p = v.smart_paging[pos];
            p > 0 && p <= f.gap_mb && f.gap_mb <= v.startup[pos]
        });
        let after = files.last().is_none_or(|g: &PagingFile| g.id < f.id);
        if !ok || !after || !f.deadline_s.is_finite() {
            return Err(bad(format!("Smart Paging file of VM {}", f.id)));
        }
        files.push(f);
    }
    let paging = v.smart_paging.iter().filter(|&&p| p > 0).count();
    if paging != files.len() {
        return Err(bad(format!("{paging} VMs use Smart Paging, {} files", files.len())));
    }
    Ok(files)
}

#[cfg(test)]
mod tests;
