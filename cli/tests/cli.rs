//! Every command of the `devcare` binary, including its error exits and messages.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn devcare(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_devcare"))
        .args(args)
        .output()
        .expect("runs")
}

fn ok(args: &[&str]) -> String {
    let o = devcare(args);
    assert!(
        o.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn fails(args: &[&str], code: i32) -> String {
    let o = devcare(args);
    assert_eq!(
        o.status.code(),
        Some(code),
        "{args:?}: stdout {}",
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8(o.stderr).unwrap()
}

fn example(name: &str) -> String {
    format!(
        "{}/../examples/campaigns/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn keygen_writes_a_private_key_and_refuses_to_overwrite() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let name = dir.path().join("ops");
    let out: Value = serde_json::from_str(&ok(&["keygen", "--out", p(&name), "--json"])).unwrap();
    assert_eq!(out["key_id"].as_str().unwrap().len(), 16);
    let mode = std::fs::metadata(dir.path().join("ops.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // Self-describing PEM: PKCS#8 for the secret, SPKI for the public half.
    let public = std::fs::read_to_string(dir.path().join("ops.pub")).unwrap();
    assert!(
        public.starts_with("-----BEGIN PUBLIC KEY-----\n"),
        "{public}"
    );
    let secret = std::fs::read_to_string(dir.path().join("ops.key")).unwrap();
    assert!(secret.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    let err = fails(&["keygen", "--out", p(&name)], 2);
    assert!(err.contains("ops.key: already exists"), "{err}");
}

#[test]
fn campaign_check_explains_a_campaign_or_locates_the_error() {
    let text = ok(&["campaign", "check", &example("apn-full.toml")]);
    assert!(
        text.contains("campaign apn-2026-11 revision 3, issued 2026-11-25T09:00:00Z"),
        "{text}"
    );
    assert!(
        text.contains("spread over 2h starting 1m after evaluation"),
        "{text}"
    );
    assert!(
        text.contains("abort: pause care when failures exceed 5% of targets (after 200 reports)"),
        "{text}"
    );
    let json: Value = serde_json::from_str(&ok(&[
        "campaign",
        "check",
        &example("beta-groups-summary.toml"),
        "--json",
    ]))
    .unwrap();
    assert_eq!(json["targets"]["groups"][0], "beta-testers");
    assert_eq!(json["window_s"], 1800.0);

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    let good = std::fs::read_to_string(example("apn-minimal.toml")).unwrap();
    std::fs::write(
        &bad,
        format!("{good}\n[schedule.report]\nwindow = \"soon\"\n"),
    )
    .unwrap();
    let err = fails(&["campaign", "check", p(&bad)], 2);
    assert!(err.contains("bad.toml:16:10: schedule.report.window: expected a duration like \"2h\", found \"soon\""), "{err}");
    let err = fails(&["campaign", "check", "/nonexistent.toml"], 2);
    assert!(err.contains("/nonexistent.toml: cannot read"), "{err}");
}

#[test]
fn build_and_inspect_a_payload_and_refuse_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k");
    let other = dir.path().join("other");
    ok(&["keygen", "--out", p(&key)]);
    ok(&["keygen", "--out", p(&other)]);
    let payload = dir.path().join("payload.bin");
    let keyfile = format!("{}.key", p(&key));
    let pubfile = format!("{}.pub", p(&key));
    // The example is dated 2026-11-25 with a one-day validity: today that payload would be
    // expired, which is refused unless asked for.
    let err = fails(
        &[
            "campaign",
            "build",
            &example("apn-full.toml"),
            "--key",
            &keyfile,
            "--out",
            p(&payload),
        ],
        2,
    );
    assert!(
        err.contains("would expire at 2026-11-26T09:00:00Z") && err.contains("--issued-at now"),
        "{err}"
    );
    let built: Value = serde_json::from_str(&ok(&[
        "campaign",
        "build",
        &example("apn-full.toml"),
        "--key",
        &keyfile,
        "--out",
        p(&payload),
        "--allow-expired",
        "--json",
    ]))
    .unwrap();
    assert_eq!(built["expired"], true);
    assert_eq!(
        built["bytes"].as_u64().unwrap(),
        std::fs::metadata(&payload).unwrap().len()
    );
    assert_eq!(built["valid_until"], "2026-11-26T09:00:00Z");
    let at = ["--at", "2026-11-25T12:00:00Z"];
    let shown = ok(&[
        "payload",
        "inspect",
        p(&payload),
        "--pub",
        &pubfile,
        at[0],
        at[1],
    ]);
    assert!(
        shown.contains("verified") && shown.contains("./Proxy/Port = 8080"),
        "{shown}"
    );
    let json: Value = serde_json::from_str(&ok(&[
        "payload",
        "inspect",
        p(&payload),
        "--pub",
        &pubfile,
        "--json",
        at[0],
        at[1],
    ]))
    .unwrap();
    assert_eq!(json["campaign"]["id"], "apn-2026-11");

    let err = fails(
        &[
            "payload",
            "inspect",
            p(&payload),
            "--pub",
            &format!("{}.pub", p(&other)),
            at[0],
            at[1],
        ],
        2,
    );
    assert!(err.contains("rejected (unknown-key)"), "{err}");
    let err = fails(
        &[
            "payload",
            "inspect",
            p(&payload),
            "--pub",
            &pubfile,
            "--at",
            "2026-12-25T00:00:00Z",
        ],
        2,
    );
    assert!(err.contains("rejected (expired)"), "{err}");
    let mut bytes = std::fs::read(&payload).unwrap();
    let n = bytes.len();
    bytes[n - 100] ^= 1;
    std::fs::write(&payload, &bytes).unwrap();
    let err = fails(
        &[
            "payload",
            "inspect",
            p(&payload),
            "--pub",
            &pubfile,
            at[0],
            at[1],
        ],
        2,
    );
    assert!(
        err.contains("rejected (bad-signature): signature does not verify"),
        "{err}"
    );
    let err = fails(
        &[
            "campaign",
            "build",
            &example("apn-full.toml"),
            "--key",
            &pubfile.replace(".pub", ".nope"),
            "--out",
            p(&payload),
        ],
        2,
    );
    assert!(err.contains("cannot read"), "{err}");
}

/// Issue 29: a key file says what it holds. Signing with the public key is exit 2 naming the
/// mistake (in JSON too, as one error object); a bare hex key of devcare 0.10 still reads,
/// with a deprecation note; `--issued-at now` makes an example campaign usable today.
#[test]
fn keys_cannot_be_mixed_up_and_old_examples_build_with_issued_at_now() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("ops");
    ok(&["keygen", "--out", p(&key)]);
    let (keyfile, pubfile) = (format!("{}.key", p(&key)), format!("{}.pub", p(&key)));
    let payload = dir.path().join("payload.bin");
    let build = |key: &str, extra: &[&str]| {
        let mut args = vec!["campaign", "build"];
        let example = example("apn-full.toml");
        let owned: Vec<String> = [example.as_str(), "--key", key, "--out", p(&payload)]
            .iter()
            .chain(extra)
            .map(|s| s.to_string())
            .collect();
        args.extend(owned.iter().map(String::as_str));
        devcare(&args)
    };
    let o = build(&pubfile, &["--issued-at", "now"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("this is a public key") && err.contains("a payload signing key"),
        "{err}"
    );
    assert!(!payload.exists(), "nothing written");
    // The same in JSON: one object naming the kind, the message and the file.
    let o = build(&pubfile, &["--issued-at", "now", "--json"]);
    let e: Value = serde_json::from_slice(&o.stderr).unwrap();
    assert_eq!(e["error"]["kind"], "input");
    assert_eq!(e["error"]["location"]["file"], pubfile.as_str());
    // Today: issued now, valid a day, inspected now.
    let o = build(&keyfile, &["--issued-at", "now"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let shown = ok(&["payload", "inspect", p(&payload), "--pub", &pubfile]);
    assert!(shown.contains("verified"), "{shown}");
    // The secret where a public key is needed is refused too.
    let err = fails(&["payload", "inspect", p(&payload), "--pub", &keyfile], 2);
    assert!(err.contains("this is a payload signing key"), "{err}");
    // A bare hex key (devcare 0.10) still signs, with a deprecation note; a bare hex file
    // named .pub is refused where the secret is needed.
    let seed = "2a".repeat(32);
    let legacy = dir.path().join("legacy.key");
    std::fs::write(&legacy, format!("{seed}\n")).unwrap();
    let o = build(p(&legacy), &["--issued-at", "now"]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("deprecated"));
    let legacy_pub = dir.path().join("legacy.pub");
    std::fs::write(&legacy_pub, format!("{seed}\n")).unwrap();
    let o = build(p(&legacy_pub), &["--issued-at", "now"]);
    assert_eq!(o.status.code(), Some(2));
    // A payload issued more than a day ahead is refused: every device would refuse it.
    let o = build(&keyfile, &["--issued-at", "2099-01-01T00:00:00Z"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("issued-in-future"));
}

fn sim_json(extra: &[&str]) -> Value {
    let mut args = vec![
        "simulate",
        "--json",
        "--devices",
        "20000",
        "--store",
        "memory",
    ];
    args.extend_from_slice(extra);
    serde_json::from_str(&ok(&args)).unwrap()
}

fn u(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"))
}

#[test]
fn simulate_reports_only_failures_and_resolves_every_one() {
    let v = sim_json(&["--fail-rate", "0.03", "--seed", "7"]);
    assert_eq!(u(&v, "reports_sent"), u(&v, "failed") + u(&v, "sampled"));
    assert_eq!(u(&v, "reports_accepted"), u(&v, "reports_sent"));
    assert_eq!(
        u(&v, "recovered") + u(&v, "escalated") + u(&v, "abandoned"),
        u(&v, "failed")
    );
    assert_eq!(u(&v, "presumed_ok"), u(&v, "devices") - u(&v, "failed"));
    assert_eq!(u(&v, "unresolved"), 0);
    assert_eq!(u(&v, "baseline_reports"), 20_000);
    let red = v["report_reduction"].as_f64().unwrap();
    assert!((red - 20_000.0 / u(&v, "reports_sent") as f64).abs() < 1e-9);
    assert!(v["coverage_ci95"][0].as_f64().unwrap() <= v["coverage_estimate"].as_f64().unwrap());
    assert!(v["wall_s"].as_f64().unwrap() > 0.0 && v["peak_rss_mb"].as_f64().unwrap() > 0.0);
}

#[test]
fn simulate_is_deterministic_for_a_seed() {
    let strip = |mut v: Value| {
        v.as_object_mut().unwrap().remove("wall_s");
        v.as_object_mut().unwrap().remove("peak_rss_mb");
        v
    };
    let a = strip(sim_json(&["--seed", "3", "--loss", "0.01"]));
    let b = strip(sim_json(&["--seed", "3", "--loss", "0.01"]));
    assert_eq!(a.to_string(), b.to_string());
    assert_ne!(
        a.to_string(),
        strip(sim_json(&["--seed", "4", "--loss", "0.01"])).to_string()
    );
    // Devices that missed the broadcast were found by check-in and cared for.
    assert_eq!(u(&a, "checkins_behind"), u(&a, "missed"));
    assert!(u(&a, "missed") > 100);
    assert_eq!(
        u(&a, "recovered") + u(&a, "escalated") + u(&a, "abandoned"),
        u(&a, "failed") + u(&a, "missed")
    );
    assert_eq!(u(&a, "unresolved"), 0);
}

#[test]
fn simulate_on_sled_replays_and_the_log_can_be_inspected() {
    let dir = tempfile::tempdir().unwrap();
    let plot = dir.path().join("r.svg");
    let v: Value = serde_json::from_str(&ok(&[
        "simulate",
        "--json",
        "--devices",
        "5000",
        "--store",
        p(dir.path()),
        "--plot",
        p(&plot),
    ]))
    .unwrap();
    assert_eq!(v["replay_identical"], true);
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.contains("<svg") && svg.contains("report window"));
    let store = dir.path().join("simulate-apn-2026-11");
    let lines = ok(&["log", "inspect", p(&store)]);
    assert_eq!(lines.lines().count() as u64, u(&v, "events_logged"));
    assert!(
        lines.starts_with("server/apn-2026-11 1 CampaignCreated"),
        "{}",
        &lines[..200]
    );
    let json = ok(&[
        "log",
        "inspect",
        p(&store),
        "--json",
        "--stream",
        "server/apn-2026-11",
    ]);
    let event = |n: usize| -> Value { serde_json::from_str(json.lines().nth(n).unwrap()).unwrap() };
    let second = event(1);
    assert_eq!(second["seq"], 2);
    assert_eq!(
        second["event"]["CoverageFloorSet"]["policy"]["floor"],
        v["coverage_floor"]
    );
    assert_eq!(
        event(2)["event"]["SampleProfiled"]["profile"]["sampled_targets"],
        v["sampled_targets"]
    );
    assert!(event(3)["event"]["BroadcastSent"].is_object());
    // Running again empties the simulation's own store first.
    let again: Value = serde_json::from_str(&ok(&[
        "simulate",
        "--json",
        "--devices",
        "5000",
        "--store",
        p(dir.path()),
    ]))
    .unwrap();
    assert_eq!(again["events_logged"], v["events_logged"]);
    let err = fails(&["log", "inspect", p(dir.path())], 2);
    assert!(err.contains("not a devcare store"), "{err}");
}

#[test]
fn a_device_log_can_be_inspected_and_a_damaged_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (c, payload, key) = devcare_integration::signed_fixture(9);
    {
        let mut host = devcare_integration::device_host(dir.path(), &key);
        host.receive(&payload, c.issued_at, |_| {
            Ok::<_, std::convert::Infallible>(devcare::ApplyResult::OK)
        })
        .unwrap();
    }
    let lines = ok(&["log", "inspect", p(dir.path())]);
    let stream = format!("device/{}", c.id);
    assert!(lines.starts_with(&format!("{stream} 1 ")), "{lines}");
    let json = ok(&["log", "inspect", p(dir.path()), "--json"]);
    let first: Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(first["stream"], stream.as_str());
    assert_eq!(first["seq"], 1);

    // A torn last append (a power cut mid-write): inspect is read-only. It shows what is
    // whole, says how many bytes a device's open would set aside, and cuts nothing.
    let log = dir.path().join(devcare::store::LOG_FILE);
    let whole = std::fs::read(&log).unwrap();
    let mut torn = whole.clone();
    torn.extend_from_slice(&[0x55; 30]);
    std::fs::write(&log, &torn).unwrap();
    let o = devcare(&["log", "inspect", p(dir.path())]);
    assert!(o.status.success());
    assert_eq!(String::from_utf8(o.stdout).unwrap(), lines);
    let note = String::from_utf8(o.stderr).unwrap();
    assert!(note.contains("30 bytes of a torn append"), "{note}");
    assert_eq!(std::fs::read(&log).unwrap(), torn, "inspect cut nothing");
    assert!(!dir.path().join(devcare::store::TORN_FILE).exists());
    std::fs::write(&log, &whole).unwrap();

    // A damaged byte in the first append, with the second after it: named, exit 2.
    let mut bytes = std::fs::read(&log).unwrap();
    bytes[40] ^= 1;
    std::fs::write(&log, &bytes).unwrap();
    let err = fails(&["log", "inspect", p(dir.path())], 2);
    assert!(err.contains("damaged at byte 16"), "{err}");
    assert_eq!(
        std::fs::read(&log).unwrap(),
        bytes,
        "inspect changed nothing"
    );
}

#[test]
fn bad_options_exit_2_with_a_message() {
    let err = fails(&["simulate", "--fail-rate", "2"], 2);
    assert!(
        err.contains("--fail-rate: must be between 0 and 1, is 2"),
        "{err}"
    );
    let err = fails(&["simulate", "--checkin-interval", "soon"], 2);
    assert!(
        err.contains("--checkin-interval: expected a duration"),
        "{err}"
    );
    let err = fails(
        &["simulate", "--campaign", &example("vip-notify-only.toml")],
        2,
    );
    assert!(err.contains("targets all devices"), "{err}");
    fails(&["simulate", "--no-such-flag"], 2);
    fails(&["frobnicate"], 2);
    let help = ok(&["--help"]);
    assert!(
        help.contains("simulate") && help.contains("campaign"),
        "{help}"
    );
}

#[test]
fn report_render_and_parse_round_trip_and_locate_errors() {
    let dir = tempfile::tempdir().unwrap();
    let campaign_file = example("apn-full.toml");
    let args = [
        "--campaign",
        "apn-2026-11",
        "--revision",
        "3",
        "--device",
        "IMEI:1",
        "--evaluated-at",
        "2026-11-25T09:06:00Z",
        "--finding",
        "status:0:404",
        "--finding",
        "missing:5",
        "--campaign-file",
        &campaign_file,
        "--session-id",
        "9",
    ];
    let mut render = vec!["report", "render"];
    render.extend_from_slice(&args);
    let xml = ok(&render);
    assert!(
        xml.contains("<Data>1226</Data>") && xml.contains("uri=./AP/Default/APN"),
        "{xml}"
    );
    let file = dir.path().join("alert.xml");
    std::fs::write(&file, &xml).unwrap();
    let parsed: Value =
        serde_json::from_str(&ok(&["report", "parse", p(&file), "--json"])).unwrap();
    let r = &parsed["reports"][0];
    assert_eq!(r["device"], "IMEI:1");
    assert_eq!(r["evaluated_at"], "2026-11-25T09:06:00Z");
    assert_eq!(
        r["kind"]["Failure"]["findings"].as_array().unwrap().len(),
        2
    );
    let text = ok(&["report", "parse", p(&file)]);
    assert!(
        text.contains("setting 0 status 404; setting 5 not applied"),
        "{text}"
    );

    // The same message as WBXML (--encoding wbxml) parses to the same reports; WBXML is
    // binary, so it goes to a file.
    let bin = dir.path().join("alert.wbxml");
    let mut render_args = vec!["report", "render", "--encoding", "wbxml"];
    render_args.extend_from_slice(&args);
    let err = fails(&render_args, 2);
    assert!(err.contains("give --out FILE"), "{err}");
    render_args.extend_from_slice(&["--out", p(&bin)]);
    let said = ok(&render_args);
    assert!(said.contains("application/vnd.syncml.dm+wbxml"), "{said}");
    // The Status answering it, in WBXML too: a fragment (no XML text in it).
    let status_bin = dir.path().join("status.wbxml");
    let said = ok(&["report", "status", p(&bin), "--out", p(&status_bin)]);
    assert!(said.contains("Alert CmdID 1: 200 (reads)"), "{said}");
    let fragment = std::fs::read(&status_bin).unwrap();
    assert!(!fragment.is_empty() && !fragment.contains(&b'<'));
    let err = fails(&["report", "status", p(&bin)], 2);
    assert!(err.contains("give --out FILE"), "{err}");
    let from_wbxml: Value =
        serde_json::from_str(&ok(&["report", "parse", p(&bin), "--json"])).unwrap();
    assert_eq!(from_wbxml["reports"], parsed["reports"]);
    assert!(std::fs::metadata(&bin).unwrap().len() * 2 < xml.len() as u64);
    std::fs::write(&bin, &std::fs::read(&bin).unwrap()[..40]).unwrap();
    let err = fails(&["report", "parse", p(&bin)], 2);
    assert!(
        err.contains("WBXML at byte") && err.contains("(DM status 400)"),
        "{err}"
    );
    // A Generic Alert mixing a devcare Item with another type is refused, located.
    std::fs::write(
        &file,
        xml.replacen("org.devcare.report.failure", "com.vendor.fota", 1),
    )
    .unwrap();
    let err = fails(&["report", "parse", p(&file)], 2);
    assert!(
        err.contains("alert.xml:14:5: unknown alert type \"com.vendor.fota\" (DM status 415)"),
        "{err}"
    );
    // Another alert beside devcare's is listed for the host, not refused.
    std::fs::write(
        &file,
        xml.replace(
            "<SyncBody>\n",
            "<SyncBody>\n<Alert><CmdID>7</CmdID><Data>1226</Data><Item><Meta><Type>com.vendor.fota</Type></Meta><Data>1</Data></Item></Alert>\n",
        ),
    )
    .unwrap();
    let text = ok(&["report", "parse", p(&file)]);
    assert!(
        text.contains("setting 0 status 404")
            && text.contains("other alert: CmdID 7 code 1226 type com.vendor.fota"),
        "{text}"
    );
    // Its Statuses: devcare's Alert only, CmdIDs from --first-cmd-id, as XML.
    let said = ok(&["report", "status", p(&file), "--first-cmd-id", "5"]);
    assert!(
        said.contains("1 other alert(s)")
            && said.contains("<CmdID>5</CmdID>")
            && said.contains("<CmdRef>1</CmdRef>")
            && !said.contains("<CmdRef>7</CmdRef>"),
        "{said}"
    );
    std::fs::write(&file, "<Alert><Data>1226</Data><Item>").unwrap();
    let err = fails(&["report", "parse", p(&file)], 2);
    assert!(
        err.contains("alert.xml:1:") && err.contains("(DM status 400)"),
        "{err}"
    );
    let err = fails(
        &[
            "report",
            "render",
            "--campaign",
            "c",
            "--device",
            "d",
            "--finding",
            "status:x",
        ],
        2,
    );
    assert!(err.contains("--finding \"status:x\""), "{err}");

    // From a binary report, verified with the device key.
    use devcare::wire::{derive_device_key, encode_report};
    let dev = devcare::DeviceId::new("IMEI:1").unwrap();
    let key = derive_device_key(&[5; 32], &dev);
    let report = devcare::Report {
        campaign: devcare::CampaignId::new("c1").unwrap(),
        revision: 2,
        device: dev,
        attempt: 1,
        evaluated_at: devcare::Timestamp(0),
        kind: devcare::ReportKind::Success,
    };
    let bin = dir.path().join("r.bin");
    std::fs::write(&bin, encode_report(&report, &key).unwrap()).unwrap();
    let keyfile = dir.path().join("dev.key");
    std::fs::write(&keyfile, devcare::text::hex_encode(&key)).unwrap();
    let xml = ok(&[
        "report",
        "render",
        "--from-bin",
        p(&bin),
        "--key",
        p(&keyfile),
    ]);
    assert!(
        xml.contains("org.devcare.report.success") && xml.contains("result=ok"),
        "{xml}"
    );
    std::fs::write(&keyfile, devcare::text::hex_encode(&[0; 32])).unwrap();
    let err = fails(
        &[
            "report",
            "render",
            "--from-bin",
            p(&bin),
            "--key",
            p(&keyfile),
        ],
        2,
    );
    assert!(err.contains("rejected (bad-mac)"), "{err}");
}

#[test]
fn one_global_format_for_every_command() {
    let file = example("apn-full.toml");
    let text = ok(&["campaign", "check", &file]);
    assert!(text.contains(": ok\n"), "{text}");
    assert_eq!(ok(&["--format", "text", "campaign", "check", &file]), text);
    let json = ok(&["--format", "json", "campaign", "check", &file]);
    let v: Value = serde_json::from_str(&json).expect("one JSON object");
    assert_eq!(v["id"], "apn-2026-11", "{json}");
    // --json is the short form, before or after the command.
    assert_eq!(ok(&["--json", "campaign", "check", &file]), json);
    assert_eq!(ok(&["campaign", "check", &file, "--json"]), json);
    assert_eq!(ok(&["campaign", "check", &file, "--format=json"]), json);
    let err = fails(&["--format", "yaml", "campaign", "check", &file], 2);
    assert!(err.contains("yaml"), "{err}");
}

#[test]
fn a_reader_that_closes_the_pipe_early_ends_the_output_quietly() {
    // `devcare log inspect … | head -1`: the reader goes away after one line; the CLI must
    // end with status 0 and no panic, not 101 with a "Broken pipe" backtrace.
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    ok(&[
        "simulate",
        "--devices",
        "5000",
        "--store",
        dir.path().to_str().unwrap(),
    ]);
    let store = dir.path().join("simulate-apn-2026-11");
    let mut child = Command::new(env!("CARGO_BIN_EXE_devcare"))
        .args(["log", "inspect", store.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("server/apn-2026-11 1 "), "{first}");
    // The pipe's read end is dropped here: the rest of the log has nowhere to go.
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn campaign_sample_counts_what_the_server_is_told() {
    // The simulation's server directory is dev-0000000000 … : its sample size for the
    // README campaign is the count `campaign sample` gives for the same ids.
    let dir = tempfile::tempdir().unwrap();
    let ids: String = (0..5000).map(|i| format!("dev-{i:010}\n")).collect();
    let list = dir.path().join("devices.txt");
    std::fs::write(&list, ids).unwrap();
    let file = example("apn-full.toml");
    let v: Value = serde_json::from_str(&ok(&[
        "campaign",
        "sample",
        &file,
        "--devices",
        list.to_str().unwrap(),
        "--json",
    ]))
    .unwrap();
    let sim: Value = serde_json::from_str(&ok(&[
        "simulate",
        "--json",
        "--devices",
        "5000",
        "--store",
        "memory",
    ]))
    .unwrap();
    assert_eq!(v["devices"], 5000);
    assert_eq!(v["sampled_targets"], sim["sampled_targets"]);
    assert_eq!(
        v["sampled"].as_array().unwrap().len() as u64,
        v["sampled_targets"].as_u64().unwrap()
    );
    std::fs::write(&list, "dev-1\nbad id\n").unwrap();
    let err = fails(
        &[
            "campaign",
            "sample",
            &file,
            "--devices",
            list.to_str().unwrap(),
        ],
        2,
    );
    assert!(err.contains("devices.txt:2: device id"), "{err}");
}

#[test]
fn simulate_and_log_inspect_on_postgresql() {
    let Some(url) = devcare_integration::pg::fresh_database("cli simulate on postgresql") else {
        return;
    };
    let v: Value = serde_json::from_str(&ok(&[
        "simulate",
        "--json",
        "--devices",
        "3000",
        "--faults",
        "realistic",
        "--store",
        &url,
    ]))
    .unwrap();
    assert_eq!(v["replay_identical"], true);
    assert_eq!(v["unresolved"], 0);
    let lines = ok(&["log", "inspect", &url]);
    assert_eq!(lines.lines().count() as u64, u(&v, "events_logged"));
    assert!(lines.starts_with("server/apn-2026-11 1 CampaignCreated"));
    // The database already holds the campaign: the run refuses rather than mix logs.
    let err = fails(&["simulate", "--devices", "3000", "--store", &url], 2);
    assert!(err.contains("already holds"), "{err}");
    // A connection string that does not parse is a clear input error.
    let err = fails(&["log", "inspect", "host=/x port=nope dbname=x"], 2);
    assert!(err.contains("connection string"), "{err}");
}

#[test]
fn simulate_sharded_over_two_postgresql_clusters_matches_one_stream() {
    let Some([a, b]) =
        devcare_integration::pg::fresh_databases_on_two_clusters("cli simulate --shards")
    else {
        return;
    };
    let run = |store: &str, extra: &[&str]| -> Value {
        let mut args = vec![
            "simulate",
            "--json",
            "--devices",
            "4000",
            "--faults",
            "realistic",
            "--store",
            store,
        ];
        args.extend_from_slice(extra);
        serde_json::from_str(&ok(&args)).unwrap()
    };
    let one = run("memory", &[]);
    let both = format!("{a},{b}");
    let sharded = run(&both, &["--shards", "64", "--workers", "2"]);
    assert_eq!(sharded["replay_identical"], true);
    assert_eq!(sharded["shards"], 64);
    assert_eq!(sharded["workers"], 2);
    for key in [
        "stats",
        "unresolved",
        "events_logged",
        "server_cases",
        "reports_sent",
    ] {
        assert_eq!(sharded[key], one[key], "{key}");
    }
    // The control stream is in the first database, shards in both.
    let first = ok(&["log", "inspect", &a]);
    assert!(
        first.starts_with("control/apn-2026-11 1 CampaignCreated"),
        "{first}"
    );
    assert!(
        first.contains("\nshard/") && first.contains("/apn-2026-11 1 CampaignCreated"),
        "{first}"
    );
    let second = ok(&["log", "inspect", &b]);
    assert!(
        second.starts_with("shard/") && !second.contains("control/"),
        "{second}"
    );
    // Every event once in its stream, plus each shard's copies of the control events.
    let body = |line: &str| line.splitn(3, ' ').nth(2).unwrap_or_default().to_string();
    let control: std::collections::BTreeSet<String> = first
        .lines()
        .filter(|l| l.starts_with("control/"))
        .map(body)
        .collect();
    let copies = |text: &str| {
        text.lines()
            .filter(|l| l.starts_with("shard/") && control.contains(&body(l)))
            .count()
    };
    assert_eq!(
        (first.lines().count() + second.lines().count() - copies(&first) - copies(&second)) as u64,
        u(&sharded, "events_logged")
    );
    // Run again into the same databases: refused.
    let err = fails(
        &[
            "simulate",
            "--devices",
            "4000",
            "--store",
            &both,
            "--shards",
            "64",
        ],
        2,
    );
    assert!(err.contains("already has a sharded log"), "{err}");
    let err = fails(&["simulate", "--devices", "10", "--store", &both], 2);
    assert!(err.contains("need --shards above 1"), "{err}");
    let err = fails(&["simulate", "--devices", "10", "--workers", "2"], 2);
    assert!(err.contains("need --shards above 1"), "{err}");
    let err = fails(&["simulate", "--devices", "10", "--shards", "0"], 2);
    assert!(err.contains("shards"), "{err}");
}

#[test]
fn a_sweep_reports_faults_and_no_violations_and_bad_rates_are_input_errors() {
    let v: Value = serde_json::from_str(&ok(&[
        "simulate",
        "--json",
        "--sweep",
        "6",
        "--devices",
        "300",
        "--faults",
        "harsh",
    ]))
    .unwrap();
    assert_eq!(v["seeds"], 6);
    assert_eq!(v["violations"].as_array().unwrap().len(), 0);
    assert!(u(&v["faults_injected"], "report-lost") > 0, "{v}");
    let text = ok(&[
        "simulate",
        "--sweep",
        "2",
        "--devices",
        "200",
        "--faults",
        "realistic",
    ]);
    assert!(text.contains("invariant violations            0"), "{text}");
    assert!(text.contains("faults injected (truth)"), "{text}");
    let err = fails(&["simulate", "--faults", "stormy"], 2);
    assert!(err.contains("not one of none, realistic, harsh"), "{err}");
    let err = fails(&["simulate", "--report-loss", "1.5", "--devices", "10"], 2);
    assert!(err.contains("report-loss 1.5"), "{err}");
}

#[test]
fn calibrate_prints_one_row_per_cell_of_faults_and_loss() {
    let v: Value = serde_json::from_str(&ok(&[
        "simulate",
        "--json",
        "--calibrate",
        "2",
        "--devices",
        "300",
    ]))
    .unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 9, "{v}");
    for (row, (faults, loss)) in rows.iter().zip(
        ["none", "realistic", "harsh"]
            .iter()
            .flat_map(|f| [0.0, 0.01, 0.05].map(move |l| (f, l))),
    ) {
        assert_eq!(row["faults"], *faults);
        assert_eq!(row["loss"], loss);
        assert_eq!(row["worlds"], 2);
        assert_eq!(row["violations"].as_array().unwrap().len(), 0, "{row}");
    }
    let text = ok(&["simulate", "--calibrate", "1", "--devices", "200"]);
    assert!(text.contains("| harsh | 5% |"), "{text}");
    let err = fails(&["simulate", "--calibrate", "1", "--sweep", "1"], 2);
    assert!(err.contains("cannot be used with"), "{err}");
}

#[test]
fn simulate_takes_the_campaign_file_s_coverage_section_unless_a_flag_overrides_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    let text = std::fs::read_to_string(example("apn-full.toml")).unwrap()
        + "\n[coverage]\nfloor = \"99%\"\nfallback = \"rebroadcast\"\n";
    std::fs::write(&file, text).unwrap();
    let run = |extra: &[&str]| -> Value {
        let mut args = vec![
            "simulate",
            "--json",
            "--store",
            "memory",
            "--devices",
            "20000",
            "--loss",
            "0.05",
            "--campaign",
        ];
        args.push(p(&file));
        args.extend_from_slice(extra);
        serde_json::from_str(&ok(&args)).unwrap()
    };
    let v = run(&[]);
    assert_eq!(v["fallback"], "rebroadcast");
    assert_eq!(v["fallback_rebroadcast"], true, "{v}");
    let v = run(&["--coverage-floor", "none"]);
    assert!(
        v["fallback"].is_null() && v["broadcast_degraded"].is_null(),
        "{v}"
    );
}

#[test]
fn simulate_on_one_or_two_threads_prints_the_same_result_and_zero_threads_is_an_input_error() {
    let run = |threads: &str| {
        let out = ok(&[
            "simulate",
            "--json",
            "--devices",
            "5000",
            "--store",
            "memory",
            "--faults",
            "realistic",
            "--threads",
            threads,
        ]);
        let mut v: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
        assert_eq!(v["threads"], threads.parse::<u64>().unwrap());
        for k in ["threads", "wall_s", "peak_rss_mb"] {
            v.as_object_mut().unwrap().remove(k);
        }
        v
    };
    assert_eq!(run("1"), run("2"));
    let err = fails(&["simulate", "--devices", "10", "--threads", "0"], 2);
    assert!(err.contains("--threads: at least 1"), "{err}");
}

#[test]
fn simulate_reports_over_either_transport_and_an_unknown_one_is_an_input_error() {
    let run = |transport: &str| -> serde_json::Value {
        serde_json::from_str(&ok(&[
            "simulate",
            "--devices",
            "2000",
            "--store",
            "memory",
            "--faults",
            "realistic",
            "--transport",
            transport,
            "--json",
        ]))
        .unwrap()
    };
    let binary = run("binary");
    let alert = run("alert");
    // The same decisions either way; an alert is a whole DM message, so more bytes.
    assert_eq!(binary["unresolved"], 0);
    assert_eq!(alert["unresolved"], binary["unresolved"]);
    assert_eq!(alert["reports_accepted"], binary["reports_accepted"]);
    let err = fails(&["simulate", "--devices", "10", "--transport", "pigeon"], 2);
    assert!(
        err.contains("--transport: expected binary, alert or mixed"),
        "{err}"
    );
}
