#[fleche::fleche]
struct S {
    x: u64,
}

fn main() {}
