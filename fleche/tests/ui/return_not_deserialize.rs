#[derive(serde::Serialize)]
struct OnlySerialize(u64);

#[fleche::fleche]
fn f(x: u64) -> OnlySerialize {
    OnlySerialize(x)
}

fn main() {}
