//! "A call that returns OK after changing state has made it durable" — checked at the
//! system-call level: the device flow (on its file store) and the server flow (on sled) run
//! under `strace`. Before a server call returns (the child's `DONE` line) an `fsync` of
//! sled's data file (`…/server/db`) must have completed: sled's own flush ends in
//! `sync_file_range`, which a power cut can undo, and this test fails if the store ever
//! relies on it alone. Before a device call returns, every write to its log
//! (`…/device/devcare.log`) must have been followed by an `fdatasync`. Needs `strace`
//! (`.ci/run` installs it).

use std::process::Command;

#[test]
fn every_call_that_changed_state_fsyncs_the_data_file_before_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("strace.log");
    let status = Command::new("strace")
        .args([
            "-f",
            "-y",
            "-qq",
            "-e",
            "trace=fsync,fdatasync,write,pwrite64",
            "-o",
        ])
        .arg(&log)
        .arg(env!("CARGO_BIN_EXE_durable_flow"))
        .arg(dir.path())
        .status()
        .expect("strace runs (apt-get install strace)");
    assert!(status.success(), "the flow failed: {status}");
    let log = std::fs::read_to_string(&log).unwrap();
    let mut synced = Vec::new(); // stores fsynced since the last DONE
    let mut device_unsynced = false; // the device log written and not synced since
    let mut calls = 0;
    for line in log.lines() {
        // `PID call(args) = result`, the PID padded to five columns.
        let call = line.split_once(' ').map_or("", |(_, c)| c.trim_start());
        let sync = call.starts_with("fsync(") || call.starts_with("fdatasync(");
        if line.contains("/device/devcare.log>") {
            device_unsynced = !sync;
        } else if sync && line.contains("/server/db>") {
            synced.push("server");
        } else if let Some(at) = line.find("\"DONE ") {
            let call = &line[at + 6..];
            let call = call.split('\\').next().unwrap_or(call);
            if call.starts_with("server") {
                assert!(
                    synced.contains(&"server"),
                    "`{call}` returned without an fsync of the server data file"
                );
            } else {
                assert!(
                    !device_unsynced,
                    "`{call}` returned with a write to the device log not synced"
                );
            }
            synced.clear();
            calls += 1;
        }
    }
    assert_eq!(calls, 10, "every call of the flow was seen:\n{log}");
}
