#[fleche::fleche]
const fn f(x: u64) -> u64 {
    x
}

fn main() {}
