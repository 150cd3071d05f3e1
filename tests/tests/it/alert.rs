//! OMA DM Generic Alert interop: round trips, the tolerances real stacks need, and located
//! errors for malformed messages.

use devcare::alert::{
    AlertError, AlertLimits, DataFormat, Sender, SyncHeader, parse_alerts, render_alert,
    render_alert_as, render_items, render_syncml, report_items,
};
use devcare::*;

fn report(kind: ReportKind) -> Report {
    Report {
        campaign: CampaignId::new("apn-2026-11").unwrap(),
        revision: 3,
        device: DeviceId::new("IMEI:490154203237518").unwrap(),
        attempt: 2,
        evaluated_at: Timestamp(1_780_000_300_000),
        kind,
    }
}

fn failure() -> Report {
    report(ReportKind::Failure {
        findings: vec![
            Finding::Status {
                index: 0,
                status: 404,
            },
            Finding::VerifyMismatch { index: 2 },
            Finding::Missing { index: 3 },
            Finding::Late {
                after: Duration::from_secs(150),
            },
        ],
    })
}

fn campaign() -> Campaign {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/campaigns/apn-full.toml"
    ))
    .unwrap();
    Campaign::from_toml("apn-full.toml", &text).unwrap()
}

fn parse(xml: &str) -> Result<Vec<Report>, AlertError> {
    parse_alerts(xml, &AlertLimits::default())
}

#[test]
fn every_report_kind_round_trips_through_xml() {
    let c = campaign();
    for r in [
        failure(),
        report(ReportKind::FailureSummary {
            count: 3,
            first_status: Some(500),
        }),
        report(ReportKind::FailureSummary {
            count: 1,
            first_status: None,
        }),
        report(ReportKind::Success),
    ] {
        for camp in [None, Some(&c)] {
            let xml = render_alert(&r, camp, 4);
            assert_eq!(parse(&xml).unwrap(), vec![r.clone()], "{xml}");
        }
        let hdr = SyncHeader {
            session_id: "1A".into(),
            msg_id: 1,
            server_uri: "https://dm.example/manage".into(),
        };
        let msg = render_syncml(&r, Some(&c), &hdr);
        assert!(
            msg.contains("<VerDTD>1.2</VerDTD>") && msg.contains("<VerProto>DM/1.2</VerProto>")
        );
        assert!(msg.contains("<Source><LocURI>IMEI:490154203237518</LocURI></Source>"));
        assert_eq!(parse(&msg).unwrap(), vec![r]);
    }
}

#[test]
fn failure_items_carry_status_uri_and_mark() {
    let xml = render_alert(&failure(), Some(&campaign()), 2);
    assert_eq!(xml.matches("<Item>").count(), 4);
    assert!(xml.contains("<Data>1226</Data>"));
    assert!(
        xml.contains("finding=status index=0 code=404 uri=./AP/Default/APN"),
        "{xml}"
    );
    assert!(xml.contains("<Mark xmlns=\"syncml:metinf\">critical</Mark>"));
    assert!(xml.contains("Reversed-Domain-Name: org.devcare.report.failure"));
    let ok = render_alert(&report(ReportKind::Success), None, 2);
    assert!(ok.contains("<Mark xmlns=\"syncml:metinf\">informational</Mark>"));
}

#[test]
fn b64_data_reads_as_chr_and_items_are_what_the_xml_holds() {
    let c = campaign();
    for r in [failure(), report(ReportKind::Success)] {
        let b64 = render_alert_as(&r, Some(&c), 5, DataFormat::B64);
        assert!(b64.contains("<Format xmlns=\"syncml:metinf\">b64</Format>"));
        assert!(!b64.contains("devcare/1"), "the Data is encoded: {b64}");
        assert_eq!(parse(&b64).unwrap(), vec![r.clone()], "{b64}");
        // The Items a DM toolkit takes render to the same XML devcare writes.
        let items = report_items(&r, Some(&c), DataFormat::Chr);
        assert_eq!(render_items(&items, 4), render_alert(&r, Some(&c), 4));
        assert!(
            items
                .iter()
                .all(|i| i.source == "./Vendor/devcare/Campaign/apn-2026-11"
                    && i.format == DataFormat::Chr
                    && i.data.starts_with("devcare/1 "))
        );
    }
    let items = report_items(&failure(), None, DataFormat::Chr);
    assert_eq!(items.len(), 4);
    assert_eq!(
        (items[0].ty.as_str(), items[0].mark.as_str()),
        ("org.devcare.report.failure", "critical")
    );
    // b64 with line breaks, as toolkits wrap it, and in any case.
    use base64::Engine as _;
    let enc = base64::engine::general_purpose::STANDARD.encode(DATA);
    let (a, b) = enc.split_at(20);
    let wrapped = one(&format!(
        "<Item><Meta><Type>org.devcare.report.failure</Type><Format>B64</Format></Meta><Data>{a}\n  {b}</Data></Item>"
    ));
    let chr = one(&format!(
        "<Item><Meta><Type>org.devcare.report.failure</Type></Meta><Data>{DATA}</Data></Item>"
    ));
    assert_eq!(parse(&wrapped).unwrap(), parse(&chr).unwrap());
    // Data that is not base64, not UTF-8 once decoded, or in another format: located.
    for (format, data, want) in [
        ("b64", "not*base64", "Format b64"),
        ("b64", "//79", "not UTF-8"),
        ("bin", DATA, "a devcare Item's Data is chr or b64"),
    ] {
        let xml = one(&format!(
            "<Item><Meta><Type>org.devcare.report.failure</Type><Format>{format}</Format></Meta><Data>{data}</Data></Item>"
        ));
        let err = parse(&xml).unwrap_err();
        assert!(
            matches!(&err, AlertError::BadData { line: 1, message, .. } if message.contains(want)),
            "{format} {data}: {err}"
        );
        assert_eq!(err.dm_status(), 400);
    }
}

const DATA: &str = "devcare/1 campaign=apn-2026-11 revision=3 device=IMEI:1 attempt=1 evaluated_at=5 finding=status index=1 code=500";

fn one(item: &str) -> String {
    format!("<Alert><CmdID>3</CmdID><Data>1226</Data>{item}</Alert>")
}

#[test]
fn tolerates_what_real_stacks_emit() {
    let want = Report {
        campaign: CampaignId::new("apn-2026-11").unwrap(),
        revision: 3,
        device: DeviceId::new("IMEI:1").unwrap(),
        attempt: 1,
        evaluated_at: Timestamp(5),
        kind: ReportKind::Failure {
            findings: vec![Finding::Status {
                index: 1,
                status: 500,
            }],
        },
    };
    let meta = "<Meta><Type xmlns=\"syncml:metinf\">org.devcare.report.failure</Type></Meta>";
    let src = "<Source><LocURI>./Vendor/devcare/Campaign/apn-2026-11</LocURI></Source>";
    let variants = vec![
        // Correlator before or after Data.
        format!(
            "<Alert><CmdID>3</CmdID><Correlator>abc</Correlator><Data>1226</Data><Item>{src}{meta}<Data>{DATA}</Data></Item></Alert>"
        ),
        format!(
            "<Alert><CmdID>3</CmdID><Data>1226</Data><Correlator>abc</Correlator><Item>{src}{meta}<Data>{DATA}</Data></Item></Alert>"
        ),
        // Meta before Source; Type with the Reversed-Domain-Name prefix; Mark missing.
        one(&format!(
            "<Item><Meta><Type xmlns=\"syncml:metinf\">Reversed-Domain-Name: org.devcare.report.failure</Type></Meta>{src}<Data>{DATA}</Data></Item>"
        )),
        // Namespace prefixes and whitespace everywhere.
        one(&format!(
            "\n  <Item>\n    <Meta xmlns:mi=\"syncml:metinf\">\n      <mi:Format>chr</mi:Format>\n      <mi:Type>\n        org.devcare.report.failure\n      </mi:Type>\n      <mi:Mark>critical</mi:Mark>\n    </Meta>\n    {src}\n    <Data>\n      {DATA}\n    </Data>\n  </Item>\n"
        )),
        // Data in CDATA; an entity in the device id's neighbourhood.
        one(&format!(
            "<Item>{meta}<Data><![CDATA[{DATA}]]></Data></Item>"
        )),
        // A whole SyncML message with a session-start alert (1201) before ours.
        format!(
            "<?xml version=\"1.0\"?><SyncML xmlns='SYNCML:SYNCML1.2'><SyncHdr><VerDTD>1.2</VerDTD></SyncHdr><SyncBody>\
             <Alert><CmdID>1</CmdID><Data>1201</Data></Alert>{}<Final/></SyncBody></SyncML>",
            one(&format!("<Item>{meta}<Data>{DATA}</Data></Item>"))
        ),
    ];
    for v in variants {
        assert_eq!(
            parse(&v).unwrap_or_else(|e| panic!("{e}\n{v}")),
            vec![want.clone()],
            "{v}"
        );
    }
    // Several Items in one Alert gather into one report; two Alerts are two reports.
    let two = DATA.replace("index=1 code=500", "index=0 code=404");
    let xml = one(&format!(
        "<Item>{meta}<Data>{DATA}</Data></Item><Item>{meta}<Data>{two}</Data></Item>"
    ));
    let got = parse(&xml).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].kind,
        ReportKind::Failure {
            findings: vec![
                Finding::Status {
                    index: 0,
                    status: 404
                },
                Finding::Status {
                    index: 1,
                    status: 500
                }
            ]
        }
    );
    let twice = format!(
        "{xml}{}",
        one(&format!(
            "<Item>{meta}<Data>{}</Data></Item>",
            DATA.replace("IMEI:1", "IMEI:2")
        ))
    );
    assert_eq!(
        parse(&format!("<SyncBody>{twice}</SyncBody>"))
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn malformed_messages_fail_with_located_errors() {
    let meta = "<Meta><Type>org.devcare.report.failure</Type></Meta>";
    let cases: Vec<(String, &str, u16)> = vec![
        (
            one(&format!(
                "<Item><Meta><Type>com.vendor.fota</Type></Meta><Data>{DATA}</Data></Item>"
            )),
            "1:41: unknown alert type \"com.vendor.fota\"",
            415,
        ),
        (one(&format!("<Item>{meta}<Data>{DATA}</Item>")), "1:", 400),
        (
            one(&format!("<Item>{meta}<Data>hello</Data></Item>")),
            "1:41: Item Data: starts with \"hello\", expected \"devcare/1\"",
            400,
        ),
        (
            one(&format!(
                "<Item>{meta}<Data>{}</Data></Item>",
                DATA.replace("attempt=1 ", "")
            )),
            "1:41: Item Data: attempt= is missing",
            400,
        ),
        (
            one(&format!(
                "<Item>{meta}<Data>{}</Data></Item>",
                DATA.replace("code=500", "code=lots")
            )),
            "1:41: Item Data: code=lots is not a number",
            400,
        ),
        (
            one(&format!(
                "<Item>{meta}<Data>{}</Data></Item>",
                DATA.replace("finding=status", "finding=weird")
            )),
            "1:41: Item Data: unknown finding \"weird\"",
            400,
        ),
        (
            one(&format!(
                "<Item>{meta}<Data>{DATA}</Data></Item><Item>{meta}<Data>{}</Data></Item>",
                DATA.replace("revision=3", "revision=4")
            )),
            "1:",
            400,
        ),
        (
            one(&format!("<Item>{meta}</Item>")),
            "1:41: Item Data: the Item has no Data",
            400,
        ),
        (
            "<Alert><CmdID>1</CmdID><Data>1201</Data></Alert>".into(),
            "no Generic Alert (Alert with Data 1226) in the message",
            400,
        ),
        ("<Alert><Data>1226</Data><Item>".into(), "1:", 400),
        (
            one(&format!("<Item>{meta}<Data>&bogus;</Data></Item>")),
            "1:",
            400,
        ),
    ];
    for (xml, want, status) in cases {
        let err = parse(&xml).expect_err(want);
        assert!(
            err.to_string().starts_with(want),
            "want {want}\n got {err}\n{xml}"
        );
        assert_eq!(err.dm_status(), status, "{err}");
    }
}

#[test]
fn limits_are_checked_before_parsing() {
    let limits = AlertLimits {
        max_bytes: 100,
        max_items: 2,
    };
    let big = render_alert(&failure(), None, 1);
    assert!(matches!(
        parse_alerts(&big, &limits),
        Err(AlertError::TooLarge { max: 100, .. })
    ));
    let limits = AlertLimits {
        max_bytes: 1 << 20,
        max_items: 2,
    };
    let err = parse_alerts(&big, &limits).unwrap_err();
    assert!(
        matches!(
            err,
            AlertError::TooManyItems {
                max: 2,
                line: 22,
                col: 5
            }
        ),
        "{err}"
    );
    assert_eq!(err.dm_status(), 413);
}

struct NoKeys;
impl devcare::host::Directory for NoKeys {
    fn device_key(&self, _: &DeviceId) -> Option<[u8; 32]> {
        None
    }
}

#[test]
fn the_server_answers_alerts_with_dm_status_codes() {
    use devcare::host::ServerHost;
    use devcare::store::MemoryStore;
    let mut c = campaign();
    c.targets = TargetSet::devices(vec![DeviceId::new("IMEI:490154203237518").unwrap()]);
    let mut s =
        ServerHost::on_store(MemoryStore::new(), devcare::host::MasterKeys([7; 32])).unwrap();
    s.handle(
        &c.id.clone(),
        &ServerCommand::Create {
            campaign: Box::new(c.clone()),
            targeted: None,
            at: c.issued_at,
        },
    )
    .unwrap();
    let limits = AlertLimits::default();
    let at = c.issued_at.plus(Duration::from_hours(1));
    let xml = render_syncml(
        &failure(),
        Some(&c),
        &SyncHeader {
            session_id: "7".into(),
            msg_id: 2,
            server_uri: "https://dm".into(),
        },
    );
    let device = failure().device;
    let own = Sender::Device(&device);
    let first = s.ingest_alerts(&xml, own, &limits, at).unwrap().unwrap();
    assert!(matches!(first[0], devcare::host::Ingest::Accepted(_)));
    assert_eq!(first[0].dm_status(), 200);
    let again = s.ingest_alerts(&xml, own, &limits, at).unwrap().unwrap();
    assert_eq!(again, vec![devcare::host::Ingest::Duplicate]);
    assert_eq!(again[0].dm_status(), 200);
    let mut stranger = failure();
    stranger.device = DeviceId::new("IMEI:2").unwrap();
    let r = s
        .ingest_alerts(
            &render_alert(&stranger, None, 1),
            Sender::Device(&stranger.device),
            &limits,
            at,
        )
        .unwrap()
        .unwrap();
    assert_eq!(r[0].dm_status(), 403);
    let mut old = failure();
    old.revision = 1;
    let r = s
        .ingest_alerts(&render_alert(&old, None, 1), own, &limits, at)
        .unwrap()
        .unwrap();
    assert_eq!(r[0].dm_status(), 410, "an older revision: stop retrying");
    let mut newer = failure();
    newer.revision = 9;
    let r = s
        .ingest_alerts(&render_alert(&newer, None, 1), own, &limits, at)
        .unwrap()
        .unwrap();
    assert_eq!(r[0].dm_status(), 404, "a revision the server does not have");
    let unknown = xml.replace("org.devcare.report.failure", "com.vendor.other");
    let err = s
        .ingest_alerts(&unknown, own, &limits, at)
        .unwrap()
        .unwrap_err();
    assert_eq!(err.dm_status(), 415);
    assert_eq!(s.state(&c.id).unwrap().stats().failure_reports, 1);
}

#[test]
fn an_alert_is_taken_only_for_the_device_of_its_session() {
    use devcare::host::ServerHost;
    use devcare::store::{EventStore, MemoryStore};
    let mut c = campaign();
    c.targets = TargetSet::All;
    let mut s =
        ServerHost::on_store(MemoryStore::new(), devcare::host::MasterKeys([7; 32])).unwrap();
    s.handle(
        &c.id.clone(),
        &ServerCommand::Create {
            campaign: Box::new(c.clone()),
            targeted: Some(1_000),
            at: c.issued_at,
        },
    )
    .unwrap();
    let limits = AlertLimits::default();
    let at = c.issued_at.plus(Duration::from_hours(1));
    let stream = devcare::decider::Side::Server.stream(&c.id);
    let before = s.store().version(&stream).unwrap();
    // A hostile client's one message speaking for 100 other devices: refused whole (403),
    // nothing logged, no case.
    let victims: Vec<Report> = (0..100)
        .map(|i| {
            let mut r = failure();
            r.device = DeviceId::new(format!("IMEI:{i}")).unwrap();
            r.kind = ReportKind::Failure {
                findings: vec![Finding::Status {
                    index: 0,
                    status: 404,
                }],
            };
            r
        })
        .collect();
    let xml: String = victims.iter().map(|r| render_alert(r, None, 1)).collect();
    let attacker = DeviceId::new("IMEI:attacker").unwrap();
    let err = s
        .ingest_alerts(&xml, Sender::Device(&attacker), &limits, at)
        .unwrap()
        .unwrap_err();
    assert_eq!((err.reason(), err.dm_status()), ("not-sender", 403));
    // One foreign Item among the sender's own is enough to refuse the message.
    let mut own = failure();
    own.device = attacker.clone();
    let mixed = render_alert(&own, None, 1) + &render_alert(&victims[0], None, 1);
    assert!(matches!(
        s.ingest_alerts(&mixed, Sender::Device(&attacker), &limits, at)
            .unwrap(),
        Err(AlertError::NotSender { .. })
    ));
    // A forged success probe for a victim cannot suppress its genuine report later.
    let mut probe = failure();
    probe.device = victims[1].device.clone();
    probe.kind = ReportKind::Success;
    assert!(
        s.ingest_alerts(
            &render_alert(&probe, None, 1),
            Sender::Device(&attacker),
            &limits,
            at
        )
        .unwrap()
        .is_err()
    );
    assert_eq!(s.store().version(&stream).unwrap(), before);
    assert!(s.state(&c.id).unwrap().cases.is_empty());
    let victim = victims[1].device.clone();
    let genuine = s
        .ingest_alerts(
            &render_alert(&victims[1], None, 1),
            Sender::Device(&victim),
            &limits,
            at,
        )
        .unwrap()
        .unwrap();
    assert!(matches!(genuine[0], devcare::host::Ingest::Accepted(_)));
    // A session device unknown to the key directory: 401.
    let mut keyless = ServerHost::on_store(MemoryStore::new(), NoKeys).unwrap();
    let err = keyless
        .ingest_alerts(&xml, Sender::Device(&victim), &limits, at)
        .unwrap()
        .unwrap_err();
    assert_eq!((err.reason(), err.dm_status()), ("unknown-sender", 401));
    // A trusted gateway speaks for the devices it is allowed: all 100 here.
    let allowed: std::collections::BTreeSet<DeviceId> =
        victims.iter().map(|r| r.device.clone()).collect();
    let relayed = s
        .ingest_alerts(&xml, Sender::Gateway(&allowed), &limits, at)
        .unwrap()
        .unwrap();
    assert_eq!(relayed.len(), 100);
    assert!(
        s.ingest_alerts(
            &xml,
            Sender::Gateway(&allowed.iter().skip(1).cloned().collect()),
            &limits,
            at
        )
        .unwrap()
        .is_err(),
        "IMEI:0 is not in this gateway's list"
    );
}

#[test]
fn parsing_an_item_stays_linear_in_its_size_whatever_keys_it_holds() {
    // One Item padded to the 64 KiB limit with ~10,000 distinct unknown keys (the worst
    // case for a duplicate-key check that compares every key with every other), against
    // the same size padded with tokens that hold no `=`. Measured side by side, the best
    // of several runs each; the ratio is what is asserted, not a time.
    let mut r = failure();
    r.kind = ReportKind::Failure {
        findings: vec![Finding::Missing { index: 3 }],
    };
    let base = render_alert(&r, None, 1);
    let pad = |with_eq: bool| -> String {
        let mut p = String::new();
        let mut i = 0;
        while base.len() + p.len() < 60 * 1024 {
            if with_eq {
                p.push_str(&format!(" k{i}=1"));
            } else {
                p.push_str(&format!(" k{i}x1"));
            }
            i += 1;
        }
        p
    };
    let at = base.rfind("</Data>").expect("the Item's Data ends");
    let worst = format!("{}{}{}", &base[..at], pad(true), &base[at..]);
    let plain = format!("{}{}{}", &base[..at], pad(false), &base[at..]);
    assert!(worst.len() <= 64 * 1024 && plain.len() <= 64 * 1024);
    let limits = AlertLimits::default();
    assert_eq!(parse_alerts(&worst, &limits).unwrap(), vec![r.clone()]);
    assert_eq!(parse_alerts(&plain, &limits).unwrap(), vec![r]);
    let best = |xml: &str| {
        (0..7)
            .map(|_| {
                let t = std::time::Instant::now();
                std::hint::black_box(parse_alerts(xml, &limits).unwrap());
                t.elapsed()
            })
            .min()
            .unwrap()
    };
    let (w, p) = (best(&worst), best(&plain));
    assert!(
        w.as_secs_f64() <= 5.0 * p.as_secs_f64(),
        "worst case {w:?} vs plain {p:?}"
    );
}

#[test]
fn one_report_split_over_several_alerts_of_a_message_is_merged() {
    // Some DM clients send one Generic Alert per Item.
    let whole = failure();
    let ReportKind::Failure { findings } = &whole.kind else {
        unreachable!()
    };
    let xml: String = findings
        .iter()
        .map(|f| {
            let mut part = whole.clone();
            part.kind = ReportKind::Failure { findings: vec![*f] };
            render_alert(&part, None, 1)
        })
        .collect();
    assert_eq!(xml.matches("<Alert>").count(), findings.len());
    assert_eq!(parse(&xml).unwrap(), vec![whole.clone()]);
    // The same report twice is one report.
    let twice = render_alert(&whole, None, 1) + &render_alert(&whole, None, 1);
    assert_eq!(parse(&twice).unwrap(), vec![whole.clone()]);
    // Two parts that disagree (another evaluation time) refuse the message.
    let mut other = whole.clone();
    other.evaluated_at = Timestamp(whole.evaluated_at.0 + 1);
    let conflict = render_alert(&whole, None, 1) + &render_alert(&other, None, 1);
    assert!(matches!(
        parse(&conflict),
        Err(AlertError::Inconsistent { .. })
    ));
    // Another attempt of the same device is another report.
    let mut next = whole.clone();
    next.attempt += 1;
    let both = render_alert(&whole, None, 1) + &render_alert(&next, None, 1);
    assert_eq!(parse(&both).unwrap(), vec![whole, next]);
}

#[test]
fn control_characters_from_a_message_never_reach_an_error_message() {
    // ESC arrives as a character reference; the error quotes the bad value escaped.
    let xml = render_alert(&failure(), None, 1).replace("attempt=2", "attempt=2&#27;[31m");
    let err = parse(&xml).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, AlertError::BadData { .. }), "{err:?}");
    assert!(!text.chars().any(char::is_control), "{text:?}");
    assert!(text.contains("\\u{1b}"), "{text}");
}
