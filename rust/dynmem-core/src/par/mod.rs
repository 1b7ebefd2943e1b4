//! Running a pass in parts on several threads: the fork-join pool
//! ([`pool`]) and where a pass cuts its VMs ([`split`]).

pub(crate) mod pool;
pub(crate) mod split;

pub(crate) use pool::{join, threads};
pub(crate) use split::{in_parts, split_point, Split};
