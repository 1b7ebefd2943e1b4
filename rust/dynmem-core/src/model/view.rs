//! [`View`]: the VM columns a tick's passes touch, over one range of VMs
//! (all of them, or one thread's part), with indices local to the range.

use super::guests::GuestCols;
use super::ids::Ids;
use super::vms::{Carries, Counter, Vms};
use crate::par::Split;

/// The VM columns a tick's passes touch, over one range of VMs (all of
/// them, or one thread's part of them), with indices local to the range.
pub(crate) struct View<'a> {
    /// The host's ids, and the position of this view's first VM.
    pub ids: &'a Ids,
    pub start: usize,
    pub flags: &'a mut [u8],
    pub minimum: &'a [u32],
    pub maximum: &'a [u32],
    pub buffer: &'a [u16],
    pub weight: &'a [u16],
    pub demand: &'a [u32],
    pub assigned: &'a mut [u32],
    pub visible: &'a mut [u32],
    pub clock_s: &'a mut [f64],
    pub added: &'a mut [u32],
    pub removed: &'a mut [u32],
    pub add_ops: &'a mut [u32],
    pub remove_ops: &'a mut [u32],
    pub p_sum: &'a mut [f64],
    pub p_min: &'a mut [f64],
    pub p_max: &'a mut [f64],
    /// The VMs' guest profiles (report delay, hot-add chunk), for the rare paths.
    pub guests: GuestCols<'a>,
    pub p_now: &'a mut [f64],
    /// `Vms::dirty`'s words for this view's VMs (`start` is a multiple of
    /// 64): bit `i % 64` of word `i / 64` marks local VM `i`.
    pub dirty: &'a mut [u64],
    /// Counters whose low word carried in this range, as (VM id, counter,
    /// new value before truncation to 32 bits): added to `Vms::carries`
    /// after the pass (`vms::carry_to` keeps the part above the low word).
    pub carries: Carries,
}

impl Split for View<'_> {
    /// The VMs before `mid` and from `mid` on.
    fn split_at(self, mid: usize) -> (Self, Self) {
        self.split_at(mid)
    }
}

impl<'a> View<'a> {
    /// All of `v`.
    pub(crate) fn of(v: &'a mut Vms) -> View<'a> {
        v.fit_dirty();
        // (`push_vm` and `each_column!` keep every column in step; the
        // view's own check covers the columns it holds.)
        debug_assert!(v.startup.len() == v.len() && v.run_mark.len() == v.len());
        View {
            ids: &v.ids,
            start: 0,
            flags: &mut v.flags,
            minimum: &v.minimum,
            maximum: &v.maximum,
            buffer: &v.buffer,
            weight: &v.weight,
            demand: &v.demand,
            assigned: &mut v.assigned,
            visible: &mut v.visible,
            clock_s: &mut v.clock_s,
            added: &mut v.added,
            removed: &mut v.removed,
            add_ops: &mut v.add_ops,
            remove_ops: &mut v.remove_ops,
            p_sum: &mut v.p_sum,
            p_min: &mut v.p_min,
            p_max: &mut v.p_max,
            guests: v.guests.cols(&v.guest, &v.startup),
            p_now: &mut v.p_now,
            dirty: &mut v.dirty,
            carries: Vec::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.flags.len()
    }

    /// Panics unless every column holds `len()` entries (the vector forms
    /// read them unchecked).
    pub(crate) fn assert_columns(&self) {
        let n = self.len();
        let lens = [
            self.minimum.len(),
            self.maximum.len(),
            self.buffer.len(),
            self.weight.len(),
            self.demand.len(),
            self.assigned.len(),
            self.visible.len(),
            self.clock_s.len(),
            self.added.len(),
            self.removed.len(),
            self.add_ops.len(),
            self.remove_ops.len(),
            self.p_sum.len(),
            self.p_min.len(),
            self.p_max.len(),
            self.guests.guest.len(),
            self.guests.startup.len(),
            self.p_now.len(),
        ];
        assert!(
            lens.iter().all(|&l| l == n) && self.dirty.len() == n.div_ceil(64),
            "VM columns out of step: {n} flags, {lens:?}, {} marks' words",
            self.dirty.len()
        );
    }

    /// The VMs of `r` (local indices; `r.start` a multiple of 64), borrowed
    /// from this view: what [`View::split_at`] twice would give, without
    /// giving this view up (its carries stay here; the sub-view's start empty).
    pub(crate) fn sub(&mut self, r: std::ops::Range<usize>) -> View<'_> {
        assert!(r.start.is_multiple_of(64), "a sub-view inside a word of marks");
        let words = r.start / 64..r.end.div_ceil(64);
        View {
            ids: self.ids,
            start: self.start + r.start,
            flags: &mut self.flags[r.clone()],
            minimum: &self.minimum[r.clone()],
            maximum: &self.maximum[r.clone()],
            buffer: &self.buffer[r.clone()],
            weight: &self.weight[r.clone()],
            demand: &self.demand[r.clone()],
            assigned: &mut self.assigned[r.clone()],
            visible: &mut self.visible[r.clone()],
            clock_s: &mut self.clock_s[r.clone()],
            added: &mut self.added[r.clone()],
            removed: &mut self.removed[r.clone()],
            add_ops: &mut self.add_ops[r.clone()],
            remove_ops: &mut self.remove_ops[r.clone()],
            p_sum: &mut self.p_sum[r.clone()],
            p_min: &mut self.p_min[r.clone()],
            p_max: &mut self.p_max[r.clone()],
            guests: self.guests.sub(r.clone()),
            p_now: &mut self.p_now[r],
            dirty: &mut self.dirty[words],
            carries: Vec::new(),
        }
    }

    /// The VMs before `mid` and from `mid` on.
    pub(crate) fn split_at(self, mid: usize) -> (View<'a>, View<'a>) {
        fn cut<T>(x: &[T], mid: usize) -> (&[T], &[T]) {
            x.split_at(mid)
        }
        fn cut_mut<T>(x: &mut [T], mid: usize) -> (&mut [T], &mut [T]) {
            x.split_at_mut(mid)
        }
        // Parts are cut at multiples of 64 VMs: whole words of marks each.
        assert!(
            mid.is_multiple_of(64) || mid == self.flags.len(),
            "a view split inside a word of marks"
        );
        let (flags, flags2) = cut_mut(self.flags, mid);
        let (minimum, minimum2) = cut(self.minimum, mid);
        let (maximum, maximum2) = cut(self.maximum, mid);
        let (buffer, buffer2) = cut(self.buffer, mid);
        let (weight, weight2) = cut(self.weight, mid);
        let (demand, demand2) = cut(self.demand, mid);
        let (assigned, assigned2) = cut_mut(self.assigned, mid);
        let (visible, visible2) = cut_mut(self.visible, mid);
        let (clock_s, clock_s2) = cut_mut(self.clock_s, mid);
        let (added, added2) = cut_mut(self.added, mid);
        let (removed, removed2) = cut_mut(self.removed, mid);
        let (add_ops, add_ops2) = cut_mut(self.add_ops, mid);
        let (remove_ops, remove_ops2) = cut_mut(self.remove_ops, mid);
        let (p_sum, p_sum2) = cut_mut(self.p_sum, mid);
        let (p_min, p_min2) = cut_mut(self.p_min, mid);
        let (p_max, p_max2) = cut_mut(self.p_max, mid);
        let (guests, guests2) = self.guests.split_at(mid);
        let (p_now, p_now2) = cut_mut(self.p_now, mid);
        let (dirty, dirty2) = cut_mut(self.dirty, mid.div_ceil(64));
        let left = View {
            ids: self.ids,
            start: self.start,
            flags,
            minimum,
            maximum,
            buffer,
            weight,
            demand,
            assigned,
            visible,
            clock_s,
            added,
            removed,
            add_ops,
            remove_ops,
            p_sum,
            p_min,
            p_max,
            guests,
            p_now,
            dirty,
            carries: self.carries,
        };
        let right = View {
            ids: self.ids,
            start: self.start + mid,
            flags: flags2,
            minimum: minimum2,
            maximum: maximum2,
            buffer: buffer2,
            weight: weight2,
            demand: demand2,
            assigned: assigned2,
            visible: visible2,
            clock_s: clock_s2,
            added: added2,
            removed: removed2,
            add_ops: add_ops2,
            remove_ops: remove_ops2,
            p_sum: p_sum2,
            p_min: p_min2,
            p_max: p_max2,
            guests: guests2,
            p_now: p_now2,
            dirty: dirty2,
            carries: Vec::new(),
        };
        (left, right)
    }

    /// Notes the carry out of counter `k`'s low word of VM `pos`, whose new
    /// value before truncation to 32 bits is `sum` (rare: once per 2^32).
    #[cold]
    pub(crate) fn carry(&mut self, k: Counter, pos: usize, sum: u64) {
        self.carries.push((self.ids.get(self.start + pos), k, sum));
    }
}
