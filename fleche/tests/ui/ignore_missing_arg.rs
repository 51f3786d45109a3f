#[fleche::fleche(ignore(verbose))]
fn f(x: u64, quiet: bool) -> u64 {
    let _ = quiet;
    x
}

fn main() {}
