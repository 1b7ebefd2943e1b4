//! VM names: one text buffer for all of them, in position order, and an
//! open-addressing hash index from name to position: 4 bytes of end offset
//! per VM, 8–16 bytes of index (2–4 slots per name, as it grows), plus the
//! text itself, where a `String` per VM and a `HashMap<String, _>` beside it
//! cost ~100.

/// Largest total of name text a host holds (end offsets are `u32`).
pub const MAX_NAME_TEXT: usize = u32::MAX as usize;

#[derive(Debug, Clone, Default)]
pub(crate) struct Names {
    text: String,
    /// `ends[i]`: where name `i` ends in `text` (it starts where `i − 1` ends).
    ends: Vec<u32>,
    /// Hash index: `position + 1` per slot, 0 for empty; a power-of-two
    /// length at least twice the number of names (linear probing).
    slots: Vec<u32>,
}

#[inline]
fn hash(name: &str) -> u64 {
    // FxHash-style over 8-byte words (names are short and trusted), then a
    // full mix: the slot is taken from the low bits, and without the mix
    // names that differ only in their later digits ("vm-000123") would
    // share a few slots.
    let mut h = name.len() as u64;
    for chunk in name.as_bytes().chunks(8) {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    let h = (h ^ (h >> 32)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    h ^ (h >> 32)
}

impl Names {
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    pub(crate) fn text_len(&self) -> usize {
        self.text.len()
    }

    /// Name of the VM at `pos`.
    pub(crate) fn get(&self, pos: usize) -> &str {
        let start = if pos == 0 { 0 } else { self.ends[pos - 1] as usize };
        &self.text[start..self.ends[pos] as usize]
    }

    /// Position of the VM called `name`.
    pub(crate) fn find(&self, name: &str) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut s = hash(name) as usize & mask;
        loop {
            match self.slots[s] {
                0 => return None,
                p if self.get(p as usize - 1) == name => return Some(p as usize - 1),
                _ => s = (s + 1) & mask,
            }
        }
    }

    /// Room for `names` more names of `bytes` more text, or `false` where
    /// an allocation failed (the index is rebuilt at its new size only once
    /// its room is reserved).
    pub(crate) fn try_reserve(&mut self, names: usize, bytes: usize) -> bool {
        if self.text.try_reserve(bytes).is_err() || self.ends.try_reserve(names).is_err() {
            return false;
        }
        let slots = (self.len() + names).saturating_mul(2);
        if slots > self.slots.len() {
            let size = slots.max(8).next_power_of_two();
            if self.slots.try_reserve_exact(size - self.slots.len()).is_err() {
                return false;
            }
            self.rebuild(slots);
        }
        true
    }

    /// Appends a name. The caller has checked that it is new and that the
    /// text stays within [`MAX_NAME_TEXT`].
    pub(crate) fn push(&mut self, name: &str) {
        debug_assert!(self.find(name).is_none());
        debug_assert!(self.text.len() + name.len() <= MAX_NAME_TEXT);
        if (self.len() + 1) * 2 > self.slots.len() {
            self.rebuild((self.len() + 1) * 4);
        }
        self.text.push_str(name);
        self.ends.push(self.text.len() as u32);
        self.insert(self.len() - 1);
    }

    /// Removes the name at `pos`; later names move down one position.
    /// O(n) like the columns' own removal, but no name is re-hashed except
    /// the few that follow it in its probe run.
    pub(crate) fn remove(&mut self, pos: usize) {
        let mask = self.slots.len() - 1;
        // Find its slot and delete it by shifting the rest of its run back
        // (linear probing needs no tombstones then).
        let mut hole = hash(self.get(pos)) as usize & mask;
        while self.slots[hole] as usize != pos + 1 {
            hole = (hole + 1) & mask;
        }
        let mut s = hole;
        loop {
            s = (s + 1) & mask;
            let p = self.slots[s];
            if p == 0 {
                break;
            }
            let home = hash(self.get(p as usize - 1)) as usize & mask;
            // Move it into the hole unless its home lies cyclically in (hole, s].
            if (s.wrapping_sub(home) & mask) >= (s.wrapping_sub(hole) & mask) {
                self.slots[hole] = p;
                hole = s;
            }
        }
        self.slots[hole] = 0;
        // Later names move down one position.
        for slot in &mut self.slots {
            if *slot as usize > pos + 1 {
                *slot -= 1;
            }
        }
        let start = if pos == 0 { 0 } else { self.ends[pos - 1] as usize };
        let end = self.ends[pos] as usize;
        self.text.replace_range(start..end, "");
        self.ends.remove(pos);
        for e in &mut self.ends[pos..] {
            *e -= (end - start) as u32;
        }
    }

    fn insert(&mut self, pos: usize) {
        let mask = self.slots.len() - 1;
        let mut s = hash(self.get(pos)) as usize & mask;
        while self.slots[s] != 0 {
            s = (s + 1) & mask;
        }
        self.slots[s] = pos as u32 + 1;
    }

    /// Rebuilds the index with at least `capacity` slots.
    fn rebuild(&mut self, capacity: usize) {
        let size = capacity.max(8).next_power_of_two();
        self.slots.clear();
        self.slots.resize(size, 0);
        for pos in 0..self.len() {
            self.insert(pos);
        }
    }

    /// Bytes held on the heap (capacity, not just length).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.text.capacity() + self.ends.capacity() * 4 + self.slots.capacity() * 4
    }
}

/// The first repeat in `names`: `(first, k)` where `names[k] == names[first]`
/// and `first < k`, with the smallest such `k`. One open-addressing table,
/// no per-name allocation.
pub(crate) fn first_repeat<S: AsRef<str>>(names: &[S]) -> Option<(usize, usize)> {
    let size = (names.len() * 2).max(8).next_power_of_two();
    let mask = size - 1;
    let mut slots = vec![0u32; size];
    for (k, name) in names.iter().enumerate() {
        let name = name.as_ref();
        let mut s = hash(name) as usize & mask;
        loop {
            match slots[s] {
                0 => {
                    slots[s] = k as u32 + 1;
                    break;
                }
                p if names[p as usize - 1].as_ref() == name => return Some((p as usize - 1, k)),
                _ => s = (s + 1) & mask,
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_get_push_remove() {
        let mut n = Names::default();
        let names: Vec<String> = (0..1000).map(|i| format!("vm-{i}")).collect();
        for s in &names {
            n.push(s);
        }
        n.push("");
        n.push("ünïcødé name");
        for (i, s) in names.iter().enumerate() {
            assert_eq!(n.find(s), Some(i));
            assert_eq!(n.get(i), s);
        }
        assert_eq!(n.find("ünïcødé name"), Some(1001));
        assert_eq!(n.find("vm-1000"), None);
        n.remove(0);
        n.remove(500);
        assert_eq!(n.find("vm-0"), None);
        assert_eq!(n.find("vm-501"), None);
        assert_eq!(n.find("vm-1"), Some(0));
        assert_eq!(n.find("vm-502"), Some(500));
        assert_eq!(n.get(999), "ünïcødé name");
        assert_eq!(n.len(), 1000);
    }

    /// Average extra probes per lookup: a bad hash shows here long before
    /// it shows in a benchmark.
    fn average_probes(n: &Names) -> f64 {
        let mask = n.slots.len() - 1;
        let total: usize = (0..n.len())
            .map(|p| {
                let mut s = hash(n.get(p)) as usize & mask;
                let mut k = 0;
                while n.slots[s] as usize != p + 1 {
                    s = (s + 1) & mask;
                    k += 1;
                }
                k
            })
            .sum();
        total as f64 / n.len() as f64
    }

    #[cfg_attr(miri, ignore)] // too large for Miri
    #[test]
    fn typical_names_spread_over_the_index() {
        for pattern in [
            |i: usize| format!("vm-{i:06}"),
            |i: usize| format!("server-{i:09}"),
            |i: usize| format!("{i:08}"),
            |i: usize| format!("host01-vm{i:07}"),
            |i: usize| format!("v{i}"),
        ] {
            let mut n = Names::default();
            for i in 0..50_000 {
                n.push(&pattern(i));
            }
            let probes = average_probes(&n);
            assert!(probes < 2.0, "{} ...: {probes} extra probes per lookup", pattern(0));
            // Removal keeps every name findable at its new position.
            for k in 0..50 {
                n.remove(k * 97 % n.len());
            }
            for p in 0..n.len() {
                assert_eq!(n.find(n.get(p)), Some(p));
            }
        }
    }

    #[test]
    fn first_repeat_finds_the_earliest_second_occurrence() {
        let names: Vec<String> = ["a", "b", "c", "b", "a"].iter().map(|s| s.to_string()).collect();
        assert_eq!(first_repeat(&names), Some((1, 3)));
        assert_eq!(first_repeat(&names[..3]), None);
        assert_eq!(first_repeat::<&str>(&[]), None);
    }
}
