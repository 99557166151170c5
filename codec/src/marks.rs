//! Coverage marks ("sometimes" assertions): `mark!("name")` at a rare
//! branch counts into a per-thread table, so the simulator can tell which
//! branches its seeds reached (`tests/sim.rs` prints the table and fails
//! when a required mark was never hit). On wasm32 (the module as shipped)
//! the macro expands to nothing and this module does not exist.

extern crate std;

use alloc::vec::Vec;
use core::cell::RefCell;

std::thread_local! {
    static TABLE: RefCell<Vec<(&'static str, u64)>> = const { RefCell::new(Vec::new()) };
}

/// Counts one hit of `name` on this thread.
pub fn hit(name: &'static str) {
    TABLE.with(|t| {
        let mut t = t.borrow_mut();
        match t.iter_mut().find(|(n, _)| *n == name) {
            Some((_, c)) => *c += 1,
            None => t.push((name, 1)),
        }
    });
}

/// This thread's counts since the last call, emptied.
pub fn take() -> Vec<(&'static str, u64)> {
    TABLE.with(|t| core::mem::take(&mut *t.borrow_mut()))
}
