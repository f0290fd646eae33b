//! The budget domain's rules as plain functions over integer minor units:
//! no I/O and no bindings, so they build for any target and are tested
//! natively (`just test` runs them with proptest).

pub mod import;
pub mod month;
