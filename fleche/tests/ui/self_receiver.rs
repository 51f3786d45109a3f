struct Model;

impl Model {
    #[fleche::fleche]
    fn predict(&self, x: u64) -> u64 {
        x
    }
}

fn main() {}
