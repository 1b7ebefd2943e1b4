//! The Windows Server release a host runs (`Host::version`) and what differs
//! between releases (`shared/dynamic-memory.md` §8; the table in
//! `docs/balancer.md`, "Host versions").

use crate::error::{Error, ErrorKind, Value};

/// A Windows Server release with Hyper-V Dynamic Memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Version {
    /// Windows Server 2008 R2 SP1, the first with Dynamic Memory.
    W2008R2Sp1 = 0,
    W2012 = 1,
    W2012R2 = 2,
    W2016 = 3,
    W2019 = 4,
    W2022 = 5,
}

impl Default for Version {
    /// The newest.
    fn default() -> Self {
        Version::W2022
    }
}

impl Version {
    /// Every release, oldest first.
    pub const ALL: [Version; 6] = [
        Version::W2008R2Sp1,
        Version::W2012,
        Version::W2012R2,
        Version::W2016,
        Version::W2019,
        Version::W2022,
    ];
    /// The names a caller gives, in the order of [`Version::ALL`].
    pub const NAMES: [&'static str; 6] = ["2008r2sp1", "2012", "2012r2", "2016", "2019", "2022"];

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// The release named `name` (one of [`Version::NAMES`]), or a `Config`
    /// error on `version`.
    pub fn parse(name: &str) -> Result<Version, Error> {
        match Self::NAMES.iter().position(|&n| n == name) {
            Some(k) => Ok(Self::ALL[k]),
            None => Err(Error::config(
                "version",
                name,
                &format!("must be one of {}", Self::NAMES.join(", ")),
            )),
        }
    }

    /// Windows Server's name for the release, for messages.
    pub fn title(self) -> &'static str {
        match self {
            Version::W2008R2Sp1 => "Windows Server 2008 R2 SP1",
            Version::W2012 => "Windows Server 2012",
            Version::W2012R2 => "Windows Server 2012 R2",
            Version::W2016 => "Windows Server 2016",
            Version::W2019 => "Windows Server 2019",
            Version::W2022 => "Windows Server 2022",
        }
    }

    /// A separate minimum (and a runtime change of minimum and maximum)
    /// exists from 2012; 2008 R2 SP1's minimum is the startup memory.
    pub fn has_separate_minimum(self) -> bool {
        self >= Version::W2012
    }
    /// Smart Paging (a restart short of startup memory) exists from 2012.
    pub fn has_smart_paging(self) -> bool {
        self >= Version::W2012
    }
    /// A static VM's memory can be resized while it runs from 2016.
    pub fn has_static_resize(self) -> bool {
        self >= Version::W2016
    }

    /// The host reserve when none is given: 2008 R2 SP1's published rule,
    /// 384 MB + 64 MB per GB of physical memory. 2012 and later compute the
    /// reserve at run time by a rule Microsoft does not publish; dynmem uses
    /// the same formula as its estimate for them (documented in
    /// `docs/balancer.md`), so a host's figures do not depend on the
    /// version unless a rule that differs is in play.
    pub fn default_reserve_mb(self, physical_mb: u64) -> u64 {
        384 + 64 * physical_mb / 1024
    }

    /// A `Version` error: `what` does not exist on this release (`field` and
    /// `value` as the caller gave them). The message names the release.
    pub fn error(self, field: &str, value: impl Into<Value>, what: &str) -> Error {
        let value = value.into();
        let message = format!(
            "{field}: {what} on {} (version \"{}\"), got {value}",
            self.title(),
            self.as_str()
        );
        Error::new(ErrorKind::Version, Some(field), value, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_order() {
        for v in Version::ALL {
            assert_eq!(Version::parse(v.as_str()).unwrap(), v);
        }
        assert_eq!(Version::default(), Version::W2022);
        let e = Version::parse("2025").unwrap_err();
        assert_eq!((e.kind, e.field.as_deref()), (ErrorKind::Config, Some("version")));
        assert!(Version::W2008R2Sp1 < Version::W2012 && Version::W2012R2 < Version::W2016);
        assert!(!Version::W2008R2Sp1.has_separate_minimum() && Version::W2012.has_separate_minimum());
        assert!(!Version::W2012R2.has_static_resize() && Version::W2016.has_static_resize());
        // 384 + 64 × 16 = 1408 on a 16 GB host, every release.
        assert!(Version::ALL.iter().all(|v| v.default_reserve_mb(16384) == 1408));
    }
}
