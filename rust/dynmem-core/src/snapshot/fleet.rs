//! A fleet's snapshot: its mechanics, each host (as a host block), and its
//! own books (names, settings as added, where each VM is, the sums per
//! host, the moves in flight), checked against its hosts when read.

use super::codec::{bad, tag, Kind, Reader, Writer};
use super::{get_host, get_mechanics, get_policy, put_host, put_mechanics, put_policy};
use crate::config::VmSpec;
use crate::error::Result;
use crate::fleet::{DynamicOptimization, Fleet, Migration, Optimizer, UNPLACED};
use crate::model::names::Names;
use crate::policy::Policy;

pub(super) fn put(f: &Fleet) -> Vec<u8> {
    let mut w = Writer::new(Kind::Fleet);
    put_mechanics(&mut w, &f.policy);
    put_policy(&mut w, &Policy::HyperV); // fleets tick under Hyper-V's policy
    w.u8(tag::FLEET);
    w.u64(f.hosts.len() as u64);
    for h in &f.hosts {
        put_host(&mut w, h);
    }
    w.block(tag::FLEET, |w| {
        w.u64(f.len() as u64);
        for i in 0..f.len() {
            let c = f.configs[i];
            w.str(f.names.get(i));
            w.u32(c.startup_mb);
            w.u32(c.minimum_mb);
            w.u32(c.maximum_mb);
            w.u16(c.buffer_pct);
            w.u16(c.weight);
            w.u8(c.dynamic as u8);
            w.u32(f.host_of[i]);
            w.u64(f.local[i]);
        }
        for m in &f.members {
            w.vec(m, Writer::u32);
        }
        w.u64(f.migrations.len() as u64);
        for m in &f.migrations {
            w.u32(m.vm);
            w.u64(m.from as u64);
            w.u64(m.to as u64);
            w.u64(m.local_to);
            w.f64(m.end_s);
            w.u64(m.startup_mb);
        }
        match &f.optimizer {
            None => w.u8(0),
            Some(o) => {
                w.u8(1);
                w.f64(o.settings.threshold);
                w.f64(o.settings.interval_s);
                w.f64(o.settings.duration_s);
                w.f64(o.next_s);
                let hot: Vec<u8> = o.hot.iter().map(|&b| b as u8).collect();
                w.vec(&hot, Writer::u8);
            }
        }
    });
    w.finish()
}

pub(super) fn get(data: &[u8]) -> Result<Fleet> {
    let mut r = Reader::open(data, Kind::Fleet)?;
    let mech = get_mechanics(&mut r)?;
    if !matches!(get_policy(&mut r, None)?, Policy::HyperV) {
        return Err(bad(
            "a fleet under a policy other than Hyper-V's (fleets have only that one)",
        ));
    }
    if r.u8()? != tag::FLEET {
        return Err(bad("no fleet block"));
    }
    let n_hosts = r.len(1)?;
    let mut physical = Vec::with_capacity(n_hosts);
    let mut hosts = Vec::with_capacity(n_hosts);
    for _ in 0..n_hosts {
        let h = get_host(&mut r, &mech)?;
        physical.push(h.physical_mb() as i64);
        hosts.push(h);
    }
    let mut f = Fleet::new(&[], None, mech.clone())?;
    f.hosts = hosts;
    f.members = vec![Vec::new(); n_hosts];
    f.committed = vec![0; n_hosts];
    f.maximum_sum = vec![0; n_hosts];
    f.minimum_sum = vec![0; n_hosts];
    let mut b = r.expect(tag::FLEET)?;
    let n = b.len(21)?;
    let mut names = Names::default();
    for i in 0..n {
        let name = b.str()?;
        if name.trim().is_empty() || names.find(name).is_some() {
            return Err(bad(format!("fleet VM name {name:?} at {i} is empty or repeated")));
        }
        names.push(name);
        let spec = VmSpec {
            startup_mb: b.u32()? as i64,
            minimum_mb: Some(b.u32()? as i64),
            maximum_mb: b.u32()? as i64,
            buffer_pct: b.u16()? as i64,
            weight: b.u16()? as i64,
            dynamic: b.u8()? != 0,
        };
        let c = spec
            .validate(mech.balloon_unit_mb)
            .map_err(|e| bad(format!("fleet VM {i}: {}", e.message)))?;
        let h = b.u32()?;
        if h != UNPLACED && h as usize >= n_hosts {
            return Err(bad(format!("fleet VM {i} on host {h} of {n_hosts}")));
        }
        f.configs.push(c);
        f.host_of.push(h);
        f.local.push(b.u64()?);
    }
    f.names = names;
    for h in 0..n_hosts {
        let m = b.vec(4, Reader::u32)?;
        if m.iter().any(|&i| i as usize >= n) {
            return Err(bad(format!("host {h}'s members")));
        }
        f.members[h] = m;
    }
    let moves = b.len(44)?;
    for _ in 0..moves {
        let m = Migration {
            vm: b.u32()?,
            from: b.u64()? as usize,
            to: b.u64()? as usize,
            local_to: b.u64()?,
            end_s: b.f64()?,
            startup_mb: b.u64()?,
        };
        if m.vm as usize >= n || m.from >= n_hosts || m.to >= n_hosts || !m.end_s.is_finite() {
            return Err(bad("a migration"));
        }
        f.migrations.push(m);
    }
    if b.u8()? == 1 {
        let settings = DynamicOptimization {
            threshold: b.f64()?,
            interval_s: b.f64()?,
            duration_s: b.f64()?,
        };
        settings
            .validate()
            .map_err(|e| bad(format!("its dynamic optimization: {}", e.message)))?;
        let next_s = b.f64()?;
        let hot = b.vec(1, Reader::u8)?;
        if hot.len() != n_hosts || !next_s.is_finite() {
            return Err(bad("its dynamic optimization's state"));
        }
        f.optimizer = Some(Optimizer {
            settings,
            next_s,
            hot: hot.into_iter().map(|b| b != 0).collect(),
        });
    }
    b.done()?;
    r.expect(tag::END)?;
    r.done()?;
    // The sums follow from the members; then the books must match the hosts.
    for h in 0..n_hosts {
        for &i in &f.members[h] {
            let c = f.configs[i as usize];
            f.committed[h] += c.startup_mb as u64;
            f.maximum_sum[h] += c.maximum_mb as u64;
            f.minimum_sum[h] += c.minimum_mb as u64;
        }
    }
    f.check()
        .map_err(|e| bad(format!("its books do not match its hosts: {e}")))?;
    Ok(f)
}
