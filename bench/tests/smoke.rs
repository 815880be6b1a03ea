//! The benchmark cannot rot: a tiny run of the benchmarks that need no other binary (the data
//! generation SQL, the store calls, the table). No figure is checked: only that each benchmark ran.

use std::process::Command;

#[test]
fn a_tiny_run_prints_every_row_and_no_failure() {
    let out = std::env::temp_dir().join(format!("pedro-bench-smoke-{}", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_pedro-bench"))
        .args([
            "--scale",
            "0.001",
            "--only",
            "auto-reply,round-trips,sync,search,analytics",
        ])
        .arg("--bin-dir")
        .arg(env!("CARGO_MANIFEST_DIR"))
        .arg("--out")
        .arg(&out)
        .output()
        .expect("run pedro-bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(!stdout.contains("failed:"), "{stdout}\n{stderr}");
    for row in [
        "| auto-responder: classify",
        "| round trips: inbound text, answered | 8 statements",
        "| round trips: analytics, 30 days |",
        "| call sync, 100 CDR rows: first run |",
        "| call sync: the same again |",
        "| search, 1000 texts + 100 transcripts, 20 queries: p95 |",
        "| analytics, 30 days",
        "| analytics, 365 days",
    ] {
        assert!(stdout.contains(row), "no row {row:?} in:\n{stdout}");
    }
    let _ = std::fs::remove_dir_all(&out);
}
