//! Runnable examples of fleche; see the examples/ directory.
