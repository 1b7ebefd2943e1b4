//! The x86-64 vector forms of the solver's probe and hand-out, one module per instruction set.

pub(crate) mod avx2;
pub(crate) mod avx512;
