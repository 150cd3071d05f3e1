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
