#[fleche::fleche]
fn f((a, b): (u64, u64)) -> u64 {
    a + b
}

fn main() {}
