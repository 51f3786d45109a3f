//! The Redis benchmark (written next).

fn main() {}
