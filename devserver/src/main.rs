fn main() { println!("trigger-devserver: not built yet"); }
