//! A DM package, not a fragment: a handset's package 1 carries other alerts beside
//! devcare's (firmware update, Hotspot 2.0, session alerts). Each devcare Alert is decided on
//! its own and answered with its own SyncML Status; every other Alert is handed back
//! untouched; only a message that is malformed, over the limits, or speaks for another
//! device is refused whole.

use devcare::alert::{AlertLimits, DataFormat, Sender, render_alert, render_alert_as};
use devcare::host::{AlertOutcome, Ingest, PackageOutcome, ServerHost};
use devcare::store::MemoryStore;
use devcare::*;

const DEVICE: &str = "IMEI:490154203237518";

fn campaign() -> Campaign {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/campaigns/apn-full.toml"
    ))
    .unwrap();
    let mut c = Campaign::from_toml("apn-full.toml", &text).unwrap();
    c.targets = TargetSet::devices(vec![DeviceId::new(DEVICE).unwrap()]);
    c
}

fn failure(attempt: u32, findings: Vec<Finding>) -> Report {
    let c = campaign();
    Report {
        campaign: c.id.clone(),
        revision: c.revision,
        device: DeviceId::new(DEVICE).unwrap(),
        attempt,
        evaluated_at: Timestamp(1_780_000_300_000),
        kind: ReportKind::Failure { findings },
    }
}

fn status(index: u32, code: u16) -> Finding {
    Finding::Status {
        index,
        status: code,
    }
}

type Host = ServerHost<MemoryStore, devcare::host::MasterKeys>;

fn server() -> (Host, Campaign) {
    let c = campaign();
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
    (s, c)
}

/// A firmware update's Generic Alert (OMA FUMO), as handsets send it.
const FIRMWARE: &str = "<Alert><CmdID>2</CmdID><Data>1226</Data><Item><Source><LocURI>./FwUpdate/pkg1/Download</LocURI></Source><Meta><Type xmlns=\"syncml:metinf\">org.openmobilealliance.dm.firmwareupdate.download</Type><Format xmlns=\"syncml:metinf\">int</Format><Mark xmlns=\"syncml:metinf\">critical</Mark></Meta><Data>402</Data></Item></Alert>\n";
/// Hotspot 2.0's subscription creation alert.
const HOTSPOT: &str = "<Alert><CmdID>3</CmdID><Data>1226</Data><Item><Meta><Type xmlns=\"syncml:metinf\">Reversed-Domain-Name: org.wi-fi.hotspot2dot0.SubscriptionCreation</Type></Meta><Data>./Wi-Fi/wi-fi.org/PerProviderSubscription</Data></Item></Alert>\n";
/// A session alert: client-initiated management (1201).
const SESSION: &str = "<Alert><CmdID>1</CmdID><Data>1201</Data></Alert>\n";

fn message(msg_id: u32, body: &[String]) -> String {
    format!(
        "<SyncML xmlns=\"SYNCML:SYNCML1.2\"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>4F</SessionID><MsgID>{msg_id}</MsgID><Target><LocURI>https://dm.example</LocURI></Target><Source><LocURI>{DEVICE}</LocURI></Source></SyncHdr><SyncBody>{}<Final/></SyncBody></SyncML>",
        body.concat()
    )
}

fn take(s: &mut Host, xml: &str, at: Timestamp) -> PackageOutcome {
    let device = DeviceId::new(DEVICE).unwrap();
    s.ingest_package(xml, Sender::Device(&device), &AlertLimits::default(), at)
        .unwrap()
        .unwrap()
}

fn devcare_statuses(p: &PackageOutcome) -> Vec<(String, u16)> {
    p.alerts
        .iter()
        .filter_map(|a| match a {
            AlertOutcome::Devcare { cmd_id, ingest } => Some((cmd_id.clone(), ingest.dm_status())),
            AlertOutcome::Foreign(_) => None,
        })
        .collect()
}

#[test]
fn other_alerts_are_handed_back_and_devcare_answers_its_own_in_any_order() {
    let (_, c) = server();
    let ours = render_alert(&failure(1, vec![status(1, 404)]), Some(&c), 4);
    let parts = [
        SESSION.to_string(),
        FIRMWARE.to_string(),
        ours.clone(),
        HOTSPOT.to_string(),
    ];
    // Every order of the four alerts: the same outcome per alert.
    let orders: [[usize; 4]; 4] = [[0, 1, 2, 3], [2, 1, 0, 3], [3, 2, 1, 0], [1, 3, 0, 2]];
    for order in orders {
        let (mut s, c) = server();
        let body: Vec<String> = order.iter().map(|&i| parts[i].clone()).collect();
        let at = c.issued_at.plus(Duration::from_hours(1));
        let p = take(&mut s, &message(3, &body), at);
        assert_eq!(p.msg_id, "3");
        assert_eq!(devcare_statuses(&p), [("4".to_string(), 200)]);
        let foreign: Vec<(String, String)> = p
            .foreign()
            .map(|f| (f.cmd_id.clone(), f.code.clone()))
            .collect();
        let mut want: Vec<(String, String)> = vec![
            ("1".into(), "1201".into()),
            ("2".into(), "1226".into()),
            ("3".into(), "1226".into()),
        ];
        // Part index of each foreign alert's CmdID: 1 → SESSION, 2 → FIRMWARE, 3 → HOTSPOT.
        let part_of = |id: &str| match id {
            "1" => 0,
            "2" => 1,
            _ => 3,
        };
        want.sort_by_key(|(id, _)| order.iter().position(|&i| i == part_of(id)));
        assert_eq!(foreign, want, "in message order");
        // Untouched: the firmware alert's Item as the handset sent it.
        let fw = p.foreign().find(|f| f.cmd_id == "2").unwrap();
        assert_eq!(fw.items.len(), 1);
        let it = &fw.items[0];
        assert_eq!(it.source.as_deref(), Some("./FwUpdate/pkg1/Download"));
        assert_eq!(
            it.ty.as_deref(),
            Some("org.openmobilealliance.dm.firmwareupdate.download")
        );
        assert_eq!(
            (it.format.as_deref(), it.mark.as_deref(), it.data.as_deref()),
            (Some("int"), Some("critical"), Some("402"))
        );
        let hs = p.foreign().find(|f| f.cmd_id == "3").unwrap();
        assert_eq!(
            hs.items[0].ty.as_deref(),
            Some("Reversed-Domain-Name: org.wi-fi.hotspot2dot0.SubscriptionCreation")
        );
        assert!(
            p.foreign()
                .find(|f| f.cmd_id == "1")
                .unwrap()
                .items
                .is_empty()
        );
        // One Status for devcare's alert, numbered from the host's next CmdID.
        assert_eq!(
            p.statuses(7),
            "  <Status>\n    <CmdID>7</CmdID>\n    <MsgRef>3</MsgRef>\n    <CmdRef>4</CmdRef>\n    <Cmd>Alert</Cmd>\n    <Data>200</Data>\n  </Status>\n"
        );
        assert_eq!(s.state(&c.id).unwrap().stats().failure_reports, 1);
    }
}

#[test]
fn each_devcare_alert_is_decided_on_its_own() {
    let (mut s, c) = server();
    let at = c.issued_at.plus(Duration::from_hours(1));
    // A good report (b64 Data), one whose Data is not a report, one of a revision the
    // server does not have, one mixing a devcare Item with a foreign one, and a firmware
    // alert: the good one is taken, each other answered with its own status.
    let good = render_alert_as(
        &failure(1, vec![status(1, 404)]),
        Some(&c),
        5,
        DataFormat::B64,
    );
    let bad_data = "<Alert><CmdID>6</CmdID><Data>1226</Data><Item><Meta><Type>org.devcare.report.failure</Type></Meta><Data>devcare/1 campaign=apn-2026-11</Data></Item></Alert>".to_string();
    let mut newer = failure(1, vec![status(0, 500)]);
    newer.revision = 99;
    let newer = render_alert(&newer, None, 8);
    let mixed = render_alert(&failure(1, vec![status(2, 500)]), None, 9).replace(
        "  </Alert>",
        "<Item><Meta><Type>com.vendor.other</Type></Meta><Data>x</Data></Item></Alert>",
    );
    let p = take(
        &mut s,
        &message(2, &[good, bad_data, newer, mixed, FIRMWARE.to_string()]),
        at,
    );
    assert_eq!(
        devcare_statuses(&p),
        [
            ("5".to_string(), 200),
            ("6".to_string(), 400),
            ("8".to_string(), 404),
            ("9".to_string(), 415),
        ]
    );
    assert_eq!(p.foreign().count(), 1);
    let st = s.state(&c.id).unwrap().stats();
    assert_eq!(st.failure_reports, 1, "only the good report was taken");
    // The same package again: devcare's report is a duplicate (200, nothing appended).
    let before = s.version(&c.id);
    let again = take(
        &mut s,
        &message(
            3,
            &[render_alert_as(
                &failure(1, vec![status(1, 404)]),
                Some(&c),
                5,
                DataFormat::B64,
            )],
        ),
        at,
    );
    assert!(matches!(
        &again.alerts[0],
        AlertOutcome::Devcare {
            ingest: Ingest::Duplicate,
            ..
        }
    ));
    assert_eq!(s.version(&c.id), before);
}

#[test]
fn parts_of_one_report_over_several_alerts_are_taken_once_whole() {
    let (mut s, c) = server();
    let at = c.issued_at.plus(Duration::from_hours(1));
    let a = render_alert(&failure(1, vec![status(1, 404)]), Some(&c), 2);
    let b = render_alert(&failure(1, vec![status(3, 500)]), Some(&c), 3);
    let mut other_time = failure(1, vec![status(0, 500)]);
    other_time.evaluated_at = Timestamp(1);
    let conflicting = render_alert(&other_time, None, 4);
    let p = take(&mut s, &message(1, &[a, b, conflicting]), at);
    assert_eq!(
        devcare_statuses(&p),
        [
            ("2".to_string(), 200),
            ("3".to_string(), 200),
            ("4".to_string(), 400)
        ]
    );
    assert!(matches!(
        &p.alerts[0],
        AlertOutcome::Devcare {
            ingest: Ingest::Accepted(_),
            ..
        }
    ));
    assert!(matches!(
        &p.alerts[1],
        AlertOutcome::Devcare {
            ingest: Ingest::Duplicate,
            ..
        }
    ));
    let case = &s.state(&c.id).unwrap().cases[&DeviceId::new(DEVICE).unwrap()];
    assert_eq!(case.care_settings, [1, 3], "both parts' findings");
}

#[test]
fn only_a_broken_or_foreign_speaking_message_is_refused_whole() {
    let (mut s, c) = server();
    let at = c.issued_at.plus(Duration::from_hours(1));
    let device = DeviceId::new(DEVICE).unwrap();
    let limits = AlertLimits::default();
    let good = render_alert(&failure(1, vec![status(1, 404)]), Some(&c), 4);
    // Not well-formed: refused whole, located.
    let broken = message(1, &[good.clone(), "<Alert><CmdID>5".into()]);
    let err = s
        .ingest_package(&broken, Sender::Device(&device), &limits, at)
        .unwrap()
        .unwrap_err();
    assert_eq!(err.dm_status(), 400);
    // A report for another device than the session's: refused whole (403).
    let mut other = failure(1, vec![status(1, 404)]);
    other.device = DeviceId::new("IMEI:2").unwrap();
    let err = s
        .ingest_package(
            &message(
                1,
                &[FIRMWARE.into(), good.clone(), render_alert(&other, None, 6)],
            ),
            Sender::Device(&device),
            &limits,
            at,
        )
        .unwrap()
        .unwrap_err();
    assert_eq!((err.reason(), err.dm_status()), ("not-sender", 403));
    // Over the size limit: 413.
    let small = AlertLimits {
        max_bytes: 100,
        ..limits
    };
    let err = s
        .ingest_package(&message(1, &[good]), Sender::Device(&device), &small, at)
        .unwrap()
        .unwrap_err();
    assert_eq!(err.dm_status(), 413);
    // Nothing was logged by any of them.
    assert_eq!(s.state(&c.id).unwrap().stats().failure_reports, 0);
    // A package of foreign alerts only is no error: nothing for devcare, all handed back.
    let p = take(&mut s, &message(9, &[SESSION.into(), FIRMWARE.into()]), at);
    assert_eq!(p.foreign().count(), 2);
    assert_eq!(p.statuses(1), "");
}

#[test]
fn a_wbxml_package_is_taken_as_its_xml_and_bad_bytes_are_refused_whole() {
    use devcare::alert::wbxml::xml_to_wbxml;
    let (mut s, c) = server();
    let at = c.issued_at.plus(Duration::from_hours(1));
    let device = DeviceId::new(DEVICE).unwrap();
    let limits = AlertLimits::default();
    let ours = render_alert(&failure(1, vec![status(1, 404)]), Some(&c), 4);
    let xml = message(5, &[FIRMWARE.to_string(), ours]);
    let bin = xml_to_wbxml(&xml, true).unwrap();
    assert!(bin.len() * 2 < xml.len(), "{} vs {}", bin.len(), xml.len());
    let p = s
        .ingest_package_bytes(&bin, Sender::Device(&device), &limits, at)
        .unwrap()
        .unwrap();
    assert_eq!(devcare_statuses(&p), [("4".to_string(), 200)]);
    assert_eq!(p.msg_id, "5");
    // Answered in the message's encoding: a WBXML fragment that, spliced into a WBXML
    // response's SyncBody, reads as the Status elements.
    assert_eq!(p.encoding, devcare::alert::Encoding::Wbxml);
    let fragment = p.statuses_encoded(2).unwrap();
    assert!(!fragment.contains(&b'<'));
    let response = splice_into_response(&fragment);
    let back = devcare::alert::wbxml::wbxml_to_xml(&response, 65_536).unwrap();
    for part in [
        "<CmdID>2</CmdID>",
        "<MsgRef>5</MsgRef>",
        "<CmdRef>4</CmdRef>",
        "<Cmd>Alert</Cmd>",
        "<Data>200</Data>",
    ] {
        assert!(back.contains(part), "{part} in {back}");
    }
    assert_eq!(
        p.foreign().next().unwrap().items[0].data.as_deref(),
        Some("402")
    );
    // The same message as XML bytes: a duplicate now.
    let again = s
        .ingest_package_bytes(xml.as_bytes(), Sender::Device(&device), &limits, at)
        .unwrap()
        .unwrap();
    assert!(matches!(
        &again.alerts[1],
        AlertOutcome::Devcare {
            ingest: Ingest::Duplicate,
            ..
        }
    ));
    // Cut WBXML, and bytes that are neither WBXML nor UTF-8: refused whole, typed.
    let err = s
        .ingest_package_bytes(&bin[..bin.len() / 2], Sender::Device(&device), &limits, at)
        .unwrap()
        .unwrap_err();
    assert_eq!((err.reason(), err.dm_status()), ("malformed-wbxml", 400));
    let err = s
        .ingest_package_bytes(
            b"<SyncML>\xff</SyncML>",
            Sender::Device(&device),
            &limits,
            at,
        )
        .unwrap()
        .unwrap_err();
    assert_eq!((err.reason(), err.dm_status()), ("malformed-xml", 400));
    assert_eq!(s.state(&c.id).unwrap().stats().failure_reports, 1);
}

/// A server's response package in WBXML with `fragment` spliced in at the start of its
/// SyncBody (after the SyncHdr's Status, which the host writes itself).
pub(crate) fn splice_into_response(fragment: &[u8]) -> Vec<u8> {
    let skeleton = "<SyncML xmlns=\"SYNCML:SYNCML1.2\"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>4F</SessionID><MsgID>1</MsgID><Target><LocURI>IMEI:1</LocURI></Target><Source><LocURI>https://dm.example</LocURI></Source></SyncHdr><SyncBody><Final/></SyncBody></SyncML>";
    let mut bin = devcare::alert::wbxml::xml_to_wbxml(skeleton, false).unwrap();
    // SyncBody (0x2B) with content, then Final (0x12) without: the fragment goes between.
    let at = bin.windows(2).position(|w| w == [0x6B, 0x12]).unwrap() + 1;
    bin.splice(at..at, fragment.iter().copied());
    bin
}

/// The device host gives its report as Items for a DM toolkit (b64 Data) and as a whole
/// package in WBXML; the server host takes each (the second a duplicate), answers in the
/// package's encoding, and the device takes the Status: acknowledged, never sent again.
#[test]
fn a_device_host_package_in_either_form_reaches_the_server_and_its_status_comes_back() {
    use devcare::alert::{Encoding, SyncHeader, parse_package, render_items};
    use devcare::host::DeviceHost;
    use devcare::payload::ServerKey;
    use devcare::rules::ReportAnswer;
    let c = devcare::spec::fixtures::campaign();
    let t0 = c.issued_at;
    let (master, seed) = ([7u8; 32], [1u8; 32]);
    let mut server = ServerHost::open(None, &master).unwrap();
    let id = server.create(c.clone(), 10, t0).unwrap();
    let payload = server
        .build_payload(id.as_str(), &seed, c.report_deadline(), t0)
        .unwrap();
    let pk = ServerKey::from_seed(&seed).public().to_bytes();
    let device = "IMEI:1";
    let key = devcare::wire::derive_device_key(&master, &DeviceId::new(device).unwrap());
    let mut d = DeviceHost::open(None, device, vec![], &pk, &key).unwrap();
    let failing = |s: &Setting| -> Result<ApplyResult, std::convert::Infallible> {
        Ok(if s.uri == "./Proxy/Port" {
            ApplyResult::status(500)
        } else {
            ApplyResult::OK
        })
    };
    d.receive(&payload, t0, failing).unwrap();
    let slot = d.tick(t0.plus(c.schedule.evaluate_after)).unwrap().unwrap();
    assert!(
        d.next_report_items(t0, DataFormat::Chr).is_none(),
        "not due yet"
    );
    // Items, as a toolkit takes them: each names the campaign and carries b64 Data.
    let due = d.next_report_items(slot, DataFormat::B64).unwrap();
    assert_eq!((due.campaign.as_str(), due.attempt), (id.as_str(), 1));
    assert!(due.items.iter().all(|i| i.format == DataFormat::B64
        && i.source.ends_with(id.as_str())
        && !i.data.contains(' ')));
    // The same report as the device host's own package, in WBXML and in XML.
    let hdr = SyncHeader {
        session_id: "4F".into(),
        msg_id: 1,
        server_uri: "https://dm.example".into(),
    };
    let pkg = d
        .next_report_package(slot, &hdr, DataFormat::Chr, Encoding::Wbxml)
        .unwrap()
        .unwrap();
    assert_eq!(Encoding::sniff(&pkg.bytes), Encoding::Wbxml);
    let xml_pkg = d
        .next_report_package(slot, &hdr, DataFormat::Chr, Encoding::Xml)
        .unwrap()
        .unwrap();
    let read = parse_package(
        std::str::from_utf8(&xml_pkg.bytes).unwrap(),
        &AlertLimits::default(),
    )
    .unwrap();
    assert_eq!(read.alerts.len(), 1);
    // The toolkit's package: its own Alert of the Items, after a firmware alert.
    let xml = message(1, &[FIRMWARE.to_string(), render_items(&due.items, 7)]);
    d.report_sent(id.as_str(), due.attempt, slot).unwrap();
    let p = server.ingest_message(xml.as_bytes(), device, slot).unwrap();
    assert_eq!(p.foreign().count(), 1);
    assert_eq!(devcare_statuses(&p), [("7".to_string(), 200)]);
    assert_eq!(server.stats(id.as_str()).unwrap().failure_reports, 1);
    // The WBXML package: a duplicate now, answered 200.
    let p = server.ingest_message(&pkg.bytes, device, slot).unwrap();
    assert_eq!(p.encoding, Encoding::Wbxml);
    assert!(matches!(
        &p.alerts[0],
        AlertOutcome::Devcare { cmd_id, ingest: Ingest::Duplicate } if cmd_id == "1"
    ));
    // Another device's session may not carry it: refused whole, typed.
    let err = server
        .ingest_message(&pkg.bytes, "IMEI:2", slot)
        .unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");
    // The Status comes back to the device: acknowledged, nothing more due.
    assert_eq!(
        d.report_status(id.as_str(), due.attempt, 200, slot)
            .unwrap(),
        ReportAnswer::Acknowledged
    );
    let mut at = slot;
    while let Some(next) = d.tick(at).unwrap() {
        assert!(d.next_report_items(next, DataFormat::Chr).is_none());
        at = next;
    }
}
