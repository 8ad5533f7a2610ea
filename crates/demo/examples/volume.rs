//! Measures the demo: `cargo run --release -p adminstats-demo --example volume -- [USERS] [DAYS] [SEED]`.
//!
//! Prints, per tenant, users, departments and events, and the time taken.
//! Set `DUMP=N` to also print the first N event lines of each tenant.

use std::time::Instant;

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
    let dump: usize = std::env::var("DUMP").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    let t0 = Instant::now();
    let demo = adminstats_demo::generate(&opts).expect("options");
    let gen = t0.elapsed();
    println!(
        "options: users={} days={} seed={} last_day={}",
        opts.users, opts.days, opts.seed, opts.last_day
    );
    println!("directory: {} bytes, generated in {:.3}s", demo.directory_json.len(), gen.as_secs_f64());
    let mut total = 0u64;
    let t1 = Instant::now();
    for (i, t) in demo.tenants.iter().enumerate() {
        // Tenants are listed in order; count this tenant's departments.
        let depts = demo
            .directory_json
            .split("\"tenant_key\"")
            .nth(i + 1)
            .map_or(0, |s| s.matches("\"open_department_id\"").count());
        let ts = Instant::now();
        let (mut events, mut bytes, mut batches) = (0u64, 0u64, 0u64);
        let mut shown = 0;
        for b in demo.event_batches(i, 1000) {
            batches += 1;
            events += b.lines().count() as u64;
            bytes += b.len() as u64 + 1;
            for l in b.lines() {
                if shown < dump {
                    println!("{l}");
                    shown += 1;
                }
            }
        }
        total += events;
        println!(
            "tenant {} ({}): users={} departments={} events={} bytes={} batches={} in {:.3}s",
            t.tenant_key,
            t.geo,
            t.users,
            depts,
            events,
            bytes,
            batches,
            ts.elapsed().as_secs_f64()
        );
        for a in &t.apps {
            println!("  app {} — {}", a.app_id, a.description);
        }
    }
    println!(
        "total events {} in {:.3}s (plus directory {:.3}s)",
        total,
        t1.elapsed().as_secs_f64(),
        gen.as_secs_f64()
    );
}
