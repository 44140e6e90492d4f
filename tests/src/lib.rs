//! Cross-crate and interop tests live in `tests/`; this library is empty on purpose.

pub mod peers;
