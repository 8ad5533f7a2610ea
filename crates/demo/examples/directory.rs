//! Prints the demo's organisation file: `cargo run -p adminstats-demo --example directory -- [USERS] [DAYS] [SEED]`.

fn main() {
    let mut args = std::env::args().skip(1);
    let mut opts = adminstats_demo::Options::default();
    if let Some(u) = args.next() {
        opts.users = u.parse().expect("USERS");
    }
    if let Some(d) = args.next() {
        opts.days = d.parse().expect("DAYS");
    }
    if let Some(s) = args.next() {
        opts.seed = s.parse().expect("SEED");
    }
    let demo = adminstats_demo::generate(&opts).expect("options");
    println!("{}", demo.directory_json);
}
