//! VM ids in position order, stored as runs of consecutive ids.
//!
//! A host hands out ids in increasing order and never reuses one, and VMs
//! keep their relative order, so the ids of `host.vms` increase with the
//! position. Without removals they form one run (`id = first + position`);
//! a removal in the middle splits a run in two, one at either end shortens
//! it. So the ids cost 16 bytes per run instead of 8 per VM, and a host
//! that never removes a VM stores one run. Worst case (every other VM
//! removed), as many bytes as one u64 per VM.
//!
//! Lookups are binary searches over the runs: `O(log runs)`.

/// A VM's identity: handed out by its host in increasing order, never
/// reused, unchanged while the VM lives (its position in host order is
/// not: it moves down when an earlier VM is removed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct VmId(pub u64);

impl std::fmt::Display for VmId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<u64> for VmId {
    fn from(id: u64) -> VmId {
        VmId(id)
    }
}

impl From<VmId> for u64 {
    fn from(id: VmId) -> u64 {
        id.0
    }
}

/// The ids of `len` VMs: runs of `(first position, first id)`, positions
/// increasing from 0; run `r` covers positions up to the next run's start.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ids {
    runs: Vec<(usize, u64)>,
    len: usize,
}

impl Ids {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The run covering `pos < len`.
    fn run_of(&self, pos: usize) -> usize {
        self.runs.partition_point(|&(start, _)| start <= pos) - 1
    }

    /// The id of the VM at `pos` (`pos < len`).
    pub(crate) fn get(&self, pos: usize) -> u64 {
        debug_assert!(pos < self.len);
        let (start, first) = self.runs[self.run_of(pos)];
        first + (pos - start) as u64
    }

    /// Where the VM with id `id` is, if it is here.
    pub(crate) fn position(&self, id: u64) -> Option<usize> {
        let r = self.runs.partition_point(|&(_, first)| first <= id).checked_sub(1)?;
        let (start, first) = self.runs[r];
        let end = self.runs.get(r + 1).map_or(self.len, |&(s, _)| s);
        let pos = start as u64 + (id - first);
        (pos < end as u64).then_some(pos as usize)
    }

    /// Appends `id`, which must exceed every id here.
    pub(crate) fn push(&mut self, id: u64) {
        debug_assert!(self.len == 0 || id > self.get(self.len - 1));
        if self.len == 0 || self.get(self.len - 1) + 1 != id {
            self.runs.push((self.len, id));
        }
        self.len += 1;
    }

    /// Removes the VM at `pos < len`; later VMs move down one position.
    pub(crate) fn remove(&mut self, pos: usize) {
        let r = self.run_of(pos);
        let (start, first) = self.runs[r];
        let end = self.runs.get(r + 1).map_or(self.len, |&(s, _)| s);
        let mut later = r + 1; // the first run whose start moves down
        if end - start == 1 {
            self.runs.remove(r); // the run was this VM alone
            later = r;
        } else if pos == start {
            self.runs[r].1 = first + 1;
        } else if pos + 1 < end {
            // From the middle: the rest of the run becomes a run of its own.
            let next_id = first + (pos - start) as u64 + 1;
            self.runs.insert(r + 1, (pos + 1, next_id));
        } // (the last of its run: the run just ends one earlier)
        for run in &mut self.runs[later..] {
            run.0 -= 1;
        }
        self.len -= 1;
    }

    /// Every id, in position order, walking the runs.
    pub(crate) fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.runs.iter().enumerate().flat_map(move |(r, &(start, first))| {
            let end = self.runs.get(r + 1).map_or(self.len, |&(s, _)| s);
            (0..(end - start) as u64).map(move |k| first + k)
        })
    }

    #[cfg(test)]
    pub(crate) fn to_vec(&self) -> Vec<u64> {
        let mut out = Vec::with_capacity(self.len);
        out.extend(self.iter());
        out
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.runs.capacity() * std::mem::size_of::<(usize, u64)>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against a plain vector of ids, through random pushes and removals.
    #[test]
    fn runs_match_a_vector_of_ids() {
        let mut seed = 0x1d5_u64;
        let mut rnd = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for round in 0..if cfg!(miri) { 8 } else { 200 } {
            let (mut ids, mut plain, mut next) = (Ids::default(), Vec::<u64>::new(), 1 + rnd(1000));
            for _ in 0..(50 + round) {
                if plain.is_empty() || rnd(3) > 0 {
                    next += 1 + (rnd(4) == 0) as u64 * rnd(5); // gaps: ids of VMs removed long ago
                    ids.push(next);
                    plain.push(next);
                } else {
                    let pos = rnd(plain.len() as u64) as usize;
                    ids.remove(pos);
                    plain.remove(pos);
                }
                assert_eq!(ids.len(), plain.len());
                assert_eq!(ids.to_vec(), plain);
                for (pos, &id) in plain.iter().enumerate() {
                    assert_eq!(ids.get(pos), id);
                    assert_eq!(ids.position(id), Some(pos));
                    assert_eq!(
                        ids.position(id + 1),
                        plain.get(pos + 1).filter(|&&x| x == id + 1).map(|_| pos + 1)
                    );
                }
                assert_eq!(ids.position(0), None);
                assert_eq!(ids.position(next + 1), None);
                // Runs are maximal: consecutive ids never span two runs.
                for w in ids.runs.windows(2) {
                    assert!(ids.get(w[1].0 - 1) + 1 != w[1].1, "{:?}", ids.runs);
                }
            }
        }
    }

    #[test]
    fn a_host_without_removals_is_one_run() {
        let mut ids = Ids::default();
        for id in 1..=1000 {
            ids.push(id);
        }
        assert_eq!(ids.runs.len(), 1);
        assert_eq!(ids.position(1000), Some(999));
        ids.remove(999);
        ids.push(1001); // after the last VM was removed: a gap, a new run
        assert_eq!(ids.runs.len(), 2);
        assert_eq!(ids.position(1000), None);
        assert_eq!(ids.position(1001), Some(999));
    }
}
