//! Compile-time checks of `#[fleche]`: misuse is rejected with a clear
//! error at the offending span, and every supported shape compiles.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/ui-pass/*.rs");
}
