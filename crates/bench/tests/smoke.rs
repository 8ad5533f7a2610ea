//! The README's benchmark command, at a tiny size: it runs end to end and prints every figure.

use std::path::PathBuf;
use std::process::Command;

fn server_binary() -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_adminstats-bench")).with_file_name("adminstats");
    if !bin.exists() {
        let ok = Command::new(env!("CARGO")).args(["build", "-p", "adminstats"]).status().unwrap().success();
        assert!(ok, "cannot build the adminstats binary");
    }
    bin
}

#[test]
fn the_benchmark_runs_and_prints_every_figure() {
    let bin = server_binary();
    // The PostgreSQL phase too when a server is named (scripts/test.sh names one).
    let pg = std::env::var("ADMINSTATS_TEST_PG").ok();
    let mut bench = Command::new(env!("CARGO_BIN_EXE_adminstats-bench"));
    if let Some(url) = &pg {
        bench.args(["--postgres", url]);
    }
    let out = bench
        .args([
            "--users",
            "80",
            "--days",
            "3",
            "--seconds",
            "1",
            "--list-clients",
            "2",
            "--ingest-clients",
            "2",
            "--dept-requests",
            "6",
            "--first-page-connections",
            "2",
        ])
        .arg("--bin")
        .arg(&bin)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for figure in [
        "durable events/s",
        "pages/s",
        "p99",
        "dept stats",
        "server RSS",
        "sqlite3 -csv baseline",
        "export RSS",
    ] {
        assert!(stdout.contains(figure), "no {figure:?} in:\n{stdout}");
    }
    if pg.is_some() {
        for figure in ["pg copy", "pg listing", "pg RSS", "pg new rows"] {
            assert!(stdout.contains(figure), "no {figure:?} in:\n{stdout}");
        }
    }
}

#[test]
fn the_console_benchmark_runs_and_prints_every_page() {
    let bin = server_binary();
    let out = Command::new(env!("CARGO_BIN_EXE_adminstats-bench"))
        .args(["--console", "--users", "60", "--console-requests", "2", "--ingest-clients", "2"])
        .arg("--bin")
        .arg(&bin)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for figure in [
        "console overview?period=180",
        "console clients?period=30",
        "console operator",
        "every page p95 < 500 ms",
        "after 1,000 late events",
        "custom 179 days",
    ] {
        assert!(stdout.contains(figure), "no {figure:?} in:\n{stdout}");
    }
}
