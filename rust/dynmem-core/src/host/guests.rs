//! Guest profiles on a host (`guest.rs`; the table in `model/guests.rs`):
//! VMs added with a profile, the balloon floor folded into the columns the
//! balancer reads (the effective `minimum`, and `demand` = committed +
//! floor), and the reads that undo it (the configured minimum, the
//! committed demand). A host whose profiles have no floor (every VM
//! "windows", the default) skips all of it.

use std::borrow::Cow;

use super::Host;
use crate::config::VmSpec;
use crate::error::{Error, Result};
use crate::guest::Guest;
use crate::model::VmId;

impl Host {
    /// Adds a VM (off) whose guest runs profile `guest` ([`Host::add_vm`]
    /// runs the default, "windows"). Errors about the profile name
    /// `guest.<field>`; nothing changes on an error.
    pub fn add_vm_with_guest(&mut self, name: &str, spec: &VmSpec, guest: &Guest) -> Result<VmId> {
        self.vms.guests.check(guest, "guest", 0)?;
        let id = self.add_vm(name, spec)?;
        let k = self.vms.guests.intern(guest, &self.mech);
        self.set_guest(self.len() - 1, k);
        Ok(id)
    }

    /// [`Host::add_vms`] with guest profiles: one for every VM
    /// (`guests.len() == 1`) or one per name; errors name the entry
    /// (`guest[3].report_delay_s`). All or nothing.
    pub fn add_vms_with_guests<S: AsRef<str>>(
        &mut self,
        names: &[S],
        specs: &[VmSpec],
        guests: &[Guest],
    ) -> Result<Vec<VmId>> {
        if guests.len() != 1 && guests.len() != names.len() {
            let what = format!("one profile, or one per name ({} names)", names.len());
            return Err(Error::config(
                "guest",
                guests.len() as u64,
                &format!("must have {what}"),
            ));
        }
        // Every profile valid, and the new ones fit the table together.
        let mut new: Vec<&Guest> = Vec::new();
        for (k, g) in guests.iter().enumerate() {
            let field = if guests.len() == 1 {
                "guest".to_string()
            } else {
                format!("guest[{k}]")
            };
            self.vms.guests.check(g, &field, new.len())?;
            if self.vms.guests.find(g).is_none() && !new.contains(&g) {
                new.push(g);
            }
        }
        let first = self.len();
        let ids = self.add_vms(names, specs)?;
        for (pos, g) in (first..self.len()).zip(guests.iter().cycle()) {
            let k = self.vms.guests.intern(g, &self.mech);
            self.set_guest(pos, k);
        }
        Ok(ids)
    }

    /// Gives the VM at `pos` (just added, demand 0) profile `k`: its
    /// effective minimum and demand with the profile's floor.
    fn set_guest(&mut self, pos: usize, k: u8) {
        let v = &mut self.vms;
        if v.guests.floors {
            v.keep_min_config(); // (the first profile with a floor: kept from now on)
        }
        v.guest[pos] = k;
        let floor = v.guests.floor(k, v.startup[pos]);
        v.minimum[pos] = v.min_config(pos).max(floor);
        v.demand[pos] = floor;
    }

    /// The balloon floor (MB) of the VM at `pos`: 0 but for a profile with one.
    pub(crate) fn floor_at(&self, pos: usize) -> u32 {
        let v = &self.vms;
        v.guests.floor(v.guest[pos], v.startup[pos])
    }

    /// After the VM at `pos` changed its startup or minimum (configured in
    /// `min_config`), whose floor was `old_floor`: the effective minimum,
    /// and the reported demand on the new floor.
    pub(super) fn refloor(&mut self, pos: usize, old_floor: u32) {
        let floor = self.floor_at(pos);
        let v = &mut self.vms;
        v.minimum[pos] = v.min_config(pos).max(floor);
        if floor != old_floor {
            v.demand[pos] = (v.demand[pos] - old_floor).saturating_add(floor);
        }
        v.touch(pos);
    }

    /// Writes committed demands `d` (host order, checked entries that `mb`
    /// converts to MB) as the guests report them: plus each VM's balloon
    /// floor, at most 2^32 − 1 MB. Marks the VMs whose demand changed and
    /// returns how many (without floors, how many 64-VM words).
    pub(crate) fn load_demands<T: Copy>(&mut self, d: &[T], mb: impl Fn(T) -> u32) -> usize {
        if !self.vms.guests.floors {
            return self.vms.set_demand_row(d, mb);
        }
        self.vms.fit_dirty();
        let mut marked = 0;
        for (pos, &c) in d.iter().enumerate() {
            let reported = mb(c).saturating_add(self.floor_at(pos));
            if self.vms.demand[pos] != reported {
                self.vms.demand[pos] = reported;
                self.vms.touch(pos); // sampled at the next tick
                marked += 1;
            }
        }
        marked
    }

    /// Every VM's demand (committed memory, as set), in host order.
    pub fn demands(&self) -> Cow<'_, [u32]> {
        if !self.vms.guests.floors {
            return Cow::Borrowed(&self.vms.demand);
        }
        Cow::Owned(
            (0..self.len())
                .map(|pos| self.vms.demand[pos] - self.floor_at(pos))
                .collect(),
        )
    }

    /// Every VM's demand as its guest reports it to the balancer (committed
    /// + balloon floor), in host order: what pressure and status are of.
    pub fn reported_demands(&self) -> &[u32] {
        &self.vms.demand
    }

    /// The guest profile of each VM (an index into [`Host::guest_profiles`]), in host order.
    pub fn guest_indices(&self) -> &[u8] {
        &self.vms.guest
    }

    /// The host's distinct guest profiles, index 0 the default ("windows").
    pub fn guest_profiles(&self) -> &[Guest] {
        &self.vms.guests.profiles
    }
}
