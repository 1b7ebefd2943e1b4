//! Hyper-V's performance counters as dynmem reports them: the per-VM set
//! ("Hyper-V Dynamic Memory VM") and the host's ("... Balancer"), with the
//! names Hyper-V gives them, defined here once.

/// Hyper-V's per-VM counters ("Hyper-V Dynamic Memory VM").
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VmCounters {
    pub added_memory_mb: u64,
    pub removed_memory_mb: u64,
    pub add_operations: u64,
    pub remove_operations: u64,
    pub physical_memory_mb: u64,
    pub guest_visible_physical_memory_mb: u64,
    pub current_pressure: f64,
    pub average_pressure: f64,
    pub minimum_pressure: f64,
    pub maximum_pressure: f64,
    /// max(0, assigned − demand) (MB) while on: what the guest has free
    /// (a shortfall is guest paging); 0 when off.
    pub guest_available_memory_mb: i64,
    /// The Smart Paging file's working set (MB); 0 unless a restart found
    /// less than startup memory.
    pub smart_paging_working_set_size_mb: u64,
}

/// Hyper-V's host counters ("Hyper-V Dynamic Memory Balancer").
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HostCounters {
    pub available_memory_mb: i64,
    pub average_pressure: f64,
    pub system_current_pressure: f64,
    /// What the balancer can hand out (MB): dynmem models no host memory
    /// besides the reserve and the VMs', so this equals Available Memory.
    pub available_memory_for_balancing_mb: i64,
}

/// A counter's value as Hyper-V reports it: a whole number (MB or a count)
/// or a real number (a pressure).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CounterValue {
    Int(i64),
    Real(f64),
}

impl VmCounters {
    /// Hyper-V's names of the per-VM counters, in the order of [`VmCounters::named`].
    pub const NAMES: [&'static str; 12] = [
        "Added Memory",
        "Removed Memory",
        "Memory Add Operations",
        "Memory Remove Operations",
        "Physical Memory",
        "Guest Visible Physical Memory",
        "Current Pressure",
        "Average Pressure",
        "Minimum Pressure",
        "Maximum Pressure",
        "Guest Available Memory",
        "Smart Paging Working Set Size",
    ];

    /// Every counter with Hyper-V's name for it (the one place the names are spelled).
    pub fn named(&self) -> [(&'static str, CounterValue); 12] {
        use CounterValue::{Int, Real};
        // Counters are at most 2^64 − 1 in principle; a VM would need 2^63 MB
        // moved to pass i64::MAX, so the conversion saturates rather than wraps.
        let int = |x: u64| Int(i64::try_from(x).unwrap_or(i64::MAX));
        let values = [
            int(self.added_memory_mb),
            int(self.removed_memory_mb),
            int(self.add_operations),
            int(self.remove_operations),
            int(self.physical_memory_mb),
            int(self.guest_visible_physical_memory_mb),
            Real(self.current_pressure),
            Real(self.average_pressure),
            Real(self.minimum_pressure),
            Real(self.maximum_pressure),
            Int(self.guest_available_memory_mb),
            int(self.smart_paging_working_set_size_mb),
        ];
        std::array::from_fn(|k| (Self::NAMES[k], values[k]))
    }
}

impl HostCounters {
    /// Hyper-V's names of the host ("Balancer") counters, in the order of [`HostCounters::named`].
    pub const NAMES: [&'static str; 4] = [
        "Available Memory",
        "Average Pressure",
        "System Current Pressure",
        "Available Memory For Balancing",
    ];

    /// Every counter with Hyper-V's name for it.
    pub fn named(&self) -> [(&'static str, CounterValue); 4] {
        let values = [
            CounterValue::Int(self.available_memory_mb),
            CounterValue::Real(self.average_pressure),
            CounterValue::Real(self.system_current_pressure),
            CounterValue::Int(self.available_memory_for_balancing_mb),
        ];
        std::array::from_fn(|k| (Self::NAMES[k], values[k]))
    }
}
