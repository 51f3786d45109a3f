#[fleche::fleche]
fn f(x: u64) -> impl std::fmt::Display {
    x
}

fn main() {}
