#[fleche::fleche(version = 1, version = 2)]
fn f(x: u64) -> u64 {
    x
}

fn main() {}
