//! The C programs in `tests/c/` are tests: compiled with gcc against the static library and
//! run — under valgrind when it is installed (CI installs it): no errors, no definite leaks.

use std::path::{Path, PathBuf};
use std::process::Command;

fn target_dir() -> PathBuf {
    // target/<profile>/deps/c_programs-… → target/<profile>
    let exe = std::env::current_exe().expect("test exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf()
}

fn build(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Building the library for this test also builds its staticlib, in deps/.
    let lib = [
        target_dir().join("deps/libdevcare_ffi.a"),
        target_dir().join("libdevcare_ffi.a"),
    ]
    .into_iter()
    .find(|p| p.exists())
    .expect("libdevcare_ffi.a is built with the library");
    let out = std::env::temp_dir().join(format!("devcare-c-{name}-{}", std::process::id()));
    let status = Command::new("gcc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-g", "-I"])
        .arg(dir.join("include"))
        .arg(if name == "hello" {
            dir.join("examples/hello.c")
        } else {
            dir.join(format!("tests/c/{name}.c"))
        })
        .arg(&lib)
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(&out)
        .status()
        .expect("gcc runs");
    assert!(status.success(), "gcc failed for {name}.c");
    out
}

fn run(name: &str, args: &[&str]) -> String {
    let exe = build(name);
    let valgrind = Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let mut cmd = if valgrind {
        let mut c = Command::new("valgrind");
        c.args([
            "--quiet",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite",
            "--error-exitcode=9",
        ]);
        c.arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    let out = cmd.args(args).output().expect("program runs");
    let _ = std::fs::remove_file(&exe);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{name} failed ({:?}, valgrind: {valgrind}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn device_stack_reports_once_for_a_failure_never_when_healthy_and_after_a_reboot() {
    let dir = std::env::temp_dir().join(format!("devcare-c-sled-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = run("device_stack", &[dir.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.contains("failure: 1 report at slot"), "{out}");
    assert!(out.contains("healthy: 0 reports"), "{out}");
    assert!(out.contains("reboot: 1 report at slot"), "{out}");
    assert!(out.contains("device_stack: ok"), "{out}");
}

#[test]
fn server_ingests_refuses_cares_and_counts() {
    let out = run("server", &[]);
    assert!(
        out.contains(
            "stats: targeted=5 failure_reports=3 care_dispatched=4 recovered=3 escalated=0 presumed_ok=2 in_care=0 settled=1 orders=4"
        ),
        "{out}"
    );
}

#[test]
fn misuse_gets_the_documented_codes() {
    let out = run("misuse", &[]);
    assert!(out.contains("misuse: ok"), "{out}");
}

#[test]
fn the_readme_snippet_compiles_and_runs() {
    let out = run("hello", &[]);
    assert!(
        out.contains("apply ./AP/Default/APN") && out.contains("DEVCARE_OK, next wake 0"),
        "{out}"
    );
}

/// Flattens the shared JSON vectors into the line format `vectors.c` reads.
fn flat_vectors() -> (std::path::PathBuf, usize) {
    use std::fmt::Write as _;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_str(
            &std::fs::read_to_string(root.join("tests/vectors").join(name)).unwrap(),
        )
        .unwrap()
    };
    let slots = read("slots.json");
    let wire = read("wire.json");
    let mut out = String::new();
    let mut n = 0;
    for v in slots["vectors"].as_array().unwrap() {
        let (salt, dev) = (
            v["salt_hex"].as_str().unwrap(),
            v["device"].as_str().unwrap(),
        );
        writeln!(out, "slot {salt} {dev} {}", v["slot_hex"].as_str().unwrap()).unwrap();
        n += 1;
        for rt in v["report_times"].as_array().unwrap() {
            writeln!(
                out,
                "first_report_at {salt} {dev} {} {} {} {}",
                v["evaluated_at_ms"], rt["offset_ms"], rt["window_ms"], rt["report_at_ms"]
            )
            .unwrap();
            n += 1;
        }
        let r = &v["retry"];
        for (i, d) in r["delays_ms"].as_array().unwrap().iter().enumerate() {
            writeln!(
                out,
                "retry {salt} {dev} {} {} {} {d}",
                i + 1,
                r["backoff_ms"],
                r["max_backoff_ms"]
            )
            .unwrap();
            n += 1;
        }
        for s in v["sampled"].as_array().unwrap() {
            writeln!(
                out,
                "sampled {salt} {dev} {} {}",
                s["ppm"],
                u8::from(s["sampled"].as_bool().unwrap())
            )
            .unwrap();
            n += 1;
        }
    }
    let c = &wire["campaign"];
    // Format 2, and format 1 (written before care timeouts), which must still open.
    for field in ["payload_hex", "payload_v1_hex"] {
        writeln!(
            out,
            "payload {} {} {} {} {} {}",
            wire["public_key_hex"].as_str().unwrap(),
            wire["now_ms"],
            wire[field].as_str().unwrap(),
            c["id"].as_str().unwrap(),
            c["revision"],
            c["setting_uris"].as_array().unwrap().len()
        )
        .unwrap();
        n += 1;
    }
    let path = std::env::temp_dir().join(format!("devcare-vectors-{}.txt", std::process::id()));
    std::fs::write(&path, out).unwrap();
    (path, n)
}

#[test]
fn the_shared_vectors_hold_in_c() {
    let (path, n) = flat_vectors();
    let out = run("vectors", &[path.to_str().unwrap()]);
    let _ = std::fs::remove_file(&path);
    assert!(out.contains(&format!("vectors: {n} checked")), "{out}");
}

#[test]
fn reports_travel_as_dm_generic_alerts() {
    let out = run("alert", &[]);
    assert!(out.contains("alert: ok"), "{out}");
}

#[test]
fn coverage_fallback_degrades_and_paces_unicast_batches() {
    let out = run("fallback", &[]);
    assert!(out.contains("fallback: ok"), "{out}");
}

#[test]
fn a_bad_group_pauses_alone_through_the_c_api() {
    let out = run("groups", &[]);
    assert!(out.contains("groups: ok"), "{out}");
}

#[test]
fn lifecycle_groups_check_in_pause_and_resume() {
    let out = run("lifecycle", &[]);
    assert!(out.contains("lifecycle: ok"), "{out}");
}

#[test]
fn calls_back_into_a_handle_from_its_own_callback_are_refused() {
    let out = run("reentrant", &[]);
    assert!(out.contains("reentrant: ok"), "{out}");
}

#[test]
fn a_device_killed_mid_apply_resumes_after_reopen() {
    let dir = std::env::temp_dir().join(format!("devcare-reboot-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let d = dir.to_str().expect("UTF-8 temp path");
    // The dying run exits inside the apply callback: not under valgrind (it ends without
    // cleanup by design).
    let exe = build("reboot");
    let out = Command::new(&exe).args([d, "die"]).output().expect("runs");
    let _ = std::fs::remove_file(&exe);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("died after 1 settings"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The cut also tore an append that had begun: 25 bytes of it reached the disk.
    use std::io::Write as _;
    std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("devcare.log"))
        .and_then(|mut f| f.write_all(&[0u8; 25]))
        .expect("the device's log");
    let out = run("reboot", &[d, "resume"]);
    assert!(out.contains("reboot: ok"), "{out}");
    assert!(out.contains("torn tail: 25 bytes"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_dm_toolkit_sends_items_beside_another_alert_and_the_server_answers_each_alert() {
    let out = run("dm_toolkit", &[]);
    assert!(out.contains("dm_toolkit: ok"), "{out}");
}
