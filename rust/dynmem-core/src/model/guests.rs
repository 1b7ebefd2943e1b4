//! A host's guest profiles ([`GuestTable`]): the distinct profiles its VMs
//! run (the `Vms::guest` column indexes them), each resolved against the
//! host's mechanics into what a tick reads: its report delay and hot-add
//! chunk. [`GuestCols`] is that, with the VM columns it needs, for a
//! [`View`](super::View). Only the rare paths read it: a booting VM's
//! report delay (pass 1's scalar form) and a hot-add (pass 2, per VM); the
//! balloon floor is folded into the `minimum` and `demand` columns.

use crate::error::{Error, Result};
use crate::guest::{Guest, HotAdd};
use crate::mechanics::Mechanics;
use crate::par::Split;

/// Most distinct guest profiles a host holds (the guest column is a u8).
pub const MAX_GUESTS: usize = 256;

/// A host's distinct guest profiles, index 0 the default ("windows").
#[derive(Debug, Clone, Default)]
pub(crate) struct GuestTable {
    pub(crate) profiles: Vec<Guest>,
    /// Per profile: seconds before it reports (`inf`: never).
    pub(crate) delay_s: Vec<f64>,
    /// Per profile: hot-add chunk (MB); 0 means Linux memory blocks, by
    /// the VM's startup memory.
    pub(crate) chunk_mb: Vec<u32>,
    /// The host's balloon unit (MB).
    pub(crate) unit: u32,
    /// Some profile has a balloon floor (else demand needs no adjusting).
    pub(crate) floors: bool,
}

impl GuestTable {
    /// The table of a host with mechanics `mech`: the default profile only.
    pub(crate) fn new(mech: &Mechanics) -> GuestTable {
        let mut t = GuestTable {
            unit: mech.balloon_unit_mb,
            ..GuestTable::default()
        };
        t.push(Guest::windows(), mech);
        t
    }

    fn push(&mut self, g: Guest, mech: &Mechanics) {
        self.delay_s.push(g.report_delay(mech.boot_report_delay_s));
        self.chunk_mb.push(match g.hot_add {
            HotAdd::Policy => mech.hot_add_chunk_mb,
            HotAdd::Chunk(c) => c,
            HotAdd::MemoryBlocks => 0,
        });
        self.floors |= g.floor_mb(1 << 20, 1) > 0;
        self.profiles.push(g);
    }

    /// The index of profile `g` (equal report delays by their bits).
    pub(crate) fn find(&self, g: &Guest) -> Option<u8> {
        let same = |p: &Guest| {
            p.name == g.name
                && p.report_delay_s.map(f64::to_bits) == g.report_delay_s.map(f64::to_bits)
                && p.balloon_floor == g.balloon_floor
                && p.hot_add == g.hot_add
        };
        self.profiles.iter().position(same).map(|k| k as u8)
    }

    /// Checks `g` (valid, and room for it in the table after `pending`
    /// other new profiles); changes nothing.
    pub(crate) fn check(&self, g: &Guest, field: &str, pending: usize) -> Result<()> {
        g.validate(self.unit).map_err(|e| rename(e, field))?;
        if self.find(g).is_none() && self.profiles.len() + pending >= MAX_GUESTS {
            return Err(Error::config(
                field,
                g.name.as_str(),
                &format!("is one profile too many: a host holds at most {MAX_GUESTS} distinct guest profiles"),
            ));
        }
        Ok(())
    }

    /// The index of `g` (checked with [`GuestTable::check`]), added if new.
    pub(crate) fn intern(&mut self, g: &Guest, mech: &Mechanics) -> u8 {
        match self.find(g) {
            Some(k) => k,
            None => {
                self.push(g.clone(), mech);
                (self.profiles.len() - 1) as u8
            }
        }
    }

    /// The balloon floor (MB) of a VM of profile `k` and `startup` MB.
    #[inline]
    pub(crate) fn floor(&self, k: u8, startup: u32) -> u32 {
        if !self.floors {
            return 0;
        }
        self.profiles[k as usize].floor_mb(startup, self.unit)
    }

    /// What a view of VMs with columns `guest` and `startup` reads.
    pub(crate) fn cols<'a>(&'a self, guest: &'a [u8], startup: &'a [u32]) -> GuestCols<'a> {
        GuestCols {
            guest,
            startup,
            delay_s: &self.delay_s,
            chunk_mb: &self.chunk_mb,
            unit: self.unit,
        }
    }
}

/// `e` about `field` (e.g. `guest[3]`) instead of `guest`.
fn rename(e: Error, field: &str) -> Error {
    let old = e.field.clone().unwrap_or_default();
    let new = old.replacen("guest", field, 1);
    Error {
        message: e.message.replacen(&old, &new, 1),
        field: Some(new),
        ..e
    }
}

/// The guest columns of some VMs (indices local to them) and the profiles'
/// resolved delays and chunks.
#[derive(Clone, Copy)]
pub(crate) struct GuestCols<'a> {
    pub guest: &'a [u8],
    pub startup: &'a [u32],
    delay_s: &'a [f64],
    chunk_mb: &'a [u32],
    unit: u32,
}

impl GuestCols<'_> {
    /// Seconds before VM `i` reports demand.
    #[inline]
    pub(crate) fn delay_s(&self, i: usize) -> f64 {
        self.delay_s[self.guest[i] as usize]
    }
    /// The hot-add chunk (MB) of VM `i`.
    #[inline]
    pub(crate) fn chunk_mb(&self, i: usize) -> u64 {
        match self.chunk_mb[self.guest[i] as usize] {
            0 => crate::guest::memory_block_mb(self.startup[i], self.unit) as u64,
            c => c as u64,
        }
    }
}

impl<'a> GuestCols<'a> {
    /// The columns of VMs `r` (indices local to them).
    pub(crate) fn sub(self, r: std::ops::Range<usize>) -> GuestCols<'a> {
        GuestCols {
            guest: &self.guest[r.clone()],
            startup: &self.startup[r],
            ..self
        }
    }
}

impl Split for GuestCols<'_> {
    fn split_at(self, mid: usize) -> (Self, Self) {
        let (g1, g2) = self.guest.split_at(mid);
        let (s1, s2) = self.startup.split_at(mid);
        (
            GuestCols {
                guest: g1,
                startup: s1,
                ..self
            },
            GuestCols {
                guest: g2,
                startup: s2,
                ..self
            },
        )
    }
}
