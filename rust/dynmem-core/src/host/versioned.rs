//! What a host's Windows Server release changes in its operations
//! ([`Version`]): 2008 R2 SP1's minimum = startup and fixed maximum while a
//! VM runs; 2016's resize of running static VMs. Checked before anything is
//! applied, so a refused operation changes nothing.

use super::Host;
use crate::config::{VmChange, VmConfig};
use crate::error::{Error, ErrorKind, Result};
use crate::version::Version;

impl Host {
    /// The Windows Server release the host runs (default: the newest).
    pub fn version(&self) -> Version {
        self.version
    }

    /// The host running `version` instead; only before any VM is added (a
    /// `State` error on `version` otherwise). The reserve stays as
    /// [`Host::new`] set it: the default rule is the same for every release
    /// (see [`Version::default_reserve_mb`]).
    pub fn with_version(mut self, version: Version) -> Result<Host> {
        if !self.is_empty() {
            return Err(Error::state(
                Some("version"),
                version.as_str(),
                format!(
                    "version can only be set before VMs are added, got {:?}",
                    version.as_str()
                ),
            ));
        }
        self.version = version;
        Ok(self)
    }

    /// The release's rules on a VM's validated settings; `field` names a
    /// setting as the caller knows it (e.g. `minimum_mb[3]`).
    pub(super) fn check_release(&self, c: &VmConfig, field: impl Fn(&str) -> String) -> Result<()> {
        if !self.version.has_separate_minimum() && c.minimum_mb != c.startup_mb {
            let what = format!(
                "minimum_mb must equal startup_mb ({}): there is no separate minimum",
                c.startup_mb
            );
            return Err(self.version.error(&field("minimum_mb"), c.minimum_mb, &what));
        }
        Ok(())
    }

    /// `change` to a VM that is off as the release reads it: on 2008 R2 SP1
    /// a new startup brings the minimum with it unless a minimum is given.
    pub(super) fn release_change(&self, change: &VmChange) -> VmChange {
        let mut change = *change;
        if !self.version.has_separate_minimum() && change.minimum_mb.is_none() {
            change.minimum_mb = change.startup_mb;
        }
        change
    }

    /// The release's runtime rules for a VM at `pos` that is on, going
    /// from `old` to `new` settings: 2008 R2 SP1 cannot change the maximum
    /// while it runs; a static VM's memory (its startup) changes while it
    /// runs only from 2016, up by at most the host's free memory, down to
    /// no less than the guest's committed memory (its demand).
    pub(super) fn check_runtime_release(&self, pos: usize, old: &VmConfig, new: &VmConfig) -> Result<()> {
        let v = self.version;
        if !v.has_separate_minimum() && new.maximum_mb != old.maximum_mb {
            let what = "maximum_mb cannot change while the VM runs";
            return Err(v.error("maximum_mb", new.maximum_mb, what));
        }
        if old.dynamic || new.startup_mb == old.startup_mb {
            return Ok(());
        }
        if !v.has_static_resize() {
            let what = "a running static VM's memory (startup_mb) can be resized only from Windows Server 2016";
            return Err(v.error("startup_mb", new.startup_mb, what));
        }
        let vm = self.at(pos);
        let (assigned, demand) = (vm.assigned_mb() as i64, vm.demand_mb() as i64);
        let to = new.startup_mb as i64;
        let free = self.available_mb();
        if to - assigned > free {
            let message = format!(
                "startup_mb: VM '{}' can grow while it runs only by the host's free memory ({free} MB), got {to}",
                vm.name()
            );
            return Err(Error::new(
                ErrorKind::InsufficientMemory,
                Some("startup_mb"),
                to.into(),
                message,
            ));
        }
        self.check_node_room(pos, to - assigned)?;
        if to < demand {
            let message = format!(
                "startup_mb: VM '{}' can shrink while it runs only by the guest's free memory, \
                 to its committed memory (demand_mb {demand}), got {to}",
                vm.name()
            );
            return Err(Error::state(Some("startup_mb"), to, message));
        }
        Ok(())
    }
}
