//! "A call that returns OK after changing state has made it durable" — checked at the
//! system-call level: the device and server flows run on sled under `strace`, and before
//! every call's return (the child's `DONE` line) an `fsync` of that store's data file
//! (`…/db`) must have completed. sled's own flush ends in `sync_file_range`, which a power
//! cut can undo; this test fails if the store ever relies on it alone. Needs `strace`
//! (`.ci/run` installs it).

use std::process::Command;

#[test]
fn every_call_that_changed_state_fsyncs_the_data_file_before_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("strace.log");
    let status = Command::new("strace")
        .args(["-f", "-y", "-qq", "-e", "trace=fsync,fdatasync,write", "-o"])
        .arg(&log)
        .arg(env!("CARGO_BIN_EXE_durable_flow"))
        .arg(dir.path())
        .status()
        .expect("strace runs (apt-get install strace)");
    assert!(status.success(), "the flow failed: {status}");
    let log = std::fs::read_to_string(&log).unwrap();
    let mut synced = Vec::new(); // stores fsynced since the last DONE
    let mut calls = 0;
    for line in log.lines() {
        if line.contains("fsync(") && line.contains("/db>") {
            if line.contains("/server/db>") {
                synced.push("server");
            } else if line.contains("/device/db>") {
                synced.push("device");
            }
        } else if let Some(at) = line.find("\"DONE ") {
            let call = &line[at + 6..];
            let side = if call.starts_with("server") {
                "server"
            } else {
                "device"
            };
            assert!(
                synced.contains(&side),
                "`{}` returned without an fsync of the {side} data file",
                call.split('\\').next().unwrap_or(call)
            );
            synced.clear();
            calls += 1;
        }
    }
    assert_eq!(calls, 10, "every call of the flow was seen:\n{log}");
}
