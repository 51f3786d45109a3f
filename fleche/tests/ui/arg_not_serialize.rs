struct NotSerialize(u64);

#[fleche::fleche]
fn f(n: u64, x: Vec<NotSerialize>) -> u64 {
    let _ = n;
    x.len() as u64
}

fn main() {}
