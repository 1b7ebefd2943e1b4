//! Random operation sequences on the core, checked after each operation
//! against the invariants, "a failed operation changes nothing" and a host
//! capped at the scalar form (`dynmem_core::fuzzing`, which the seeded test
//! in `cargo test` shares).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    dynmem_core::fuzzing::run(data);
});
