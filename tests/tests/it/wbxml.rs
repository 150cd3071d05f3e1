//! WBXML against an independent codec, libwbxml 0.11 (Debian `libwbxml2-utils`:
//! `xml2wbxml`, `wbxml2xml`): what devcare encodes libwbxml decodes to the same reports, and
//! what libwbxml encodes (with and without a string table) devcare decodes to them. Without
//! the tools the libwbxml checks skip with a line, unless `DEVCARE_REQUIRE_WBXML=1` (set by
//! `.ci/run`).

use std::process::Command;

use devcare::alert::wbxml::{is_wbxml, wbxml_to_xml, xml_to_wbxml};
use devcare::alert::{
    AlertLimits, DataFormat, SyncHeader, parse_alerts, parse_package, render_alert_as,
    render_syncml,
};
use devcare::*;

fn reports() -> Vec<Report> {
    let base = |kind| Report {
        campaign: CampaignId::new("apn-2026-11").unwrap(),
        revision: 3,
        device: DeviceId::new("IMEI:490154203237518").unwrap(),
        attempt: 2,
        evaluated_at: Timestamp(1_780_000_300_000),
        kind,
    };
    vec![
        base(ReportKind::Failure {
            findings: vec![
                Finding::Status {
                    index: 0,
                    status: 404,
                },
                Finding::VerifyMismatch { index: 2 },
                Finding::Late {
                    after: Duration::from_secs(150),
                },
            ],
        }),
        base(ReportKind::FailureSummary {
            count: 3,
            first_status: Some(500),
        }),
        base(ReportKind::Success),
    ]
}

fn campaign() -> Campaign {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/campaigns/apn-full.toml"
    ))
    .unwrap();
    Campaign::from_toml("apn-full.toml", &text).unwrap()
}

fn messages() -> Vec<(Report, String)> {
    let c = campaign();
    let hdr = SyncHeader {
        session_id: "4F".into(),
        msg_id: 1,
        server_uri: "https://dm.example/manage".into(),
    };
    reports()
        .into_iter()
        .map(|r| {
            let xml = render_syncml(&r, Some(&c), &hdr);
            (r, xml)
        })
        .collect()
}

fn limits() -> AlertLimits {
    AlertLimits::default()
}

/// The libwbxml tools, if installed (a failure when `DEVCARE_REQUIRE_WBXML=1`).
fn libwbxml() -> bool {
    let here = Command::new("wbxml2xml").arg("-h").output().is_ok();
    if !here {
        assert!(
            std::env::var("DEVCARE_REQUIRE_WBXML").is_err(),
            "DEVCARE_REQUIRE_WBXML=1 but wbxml2xml is not installed (apt-get install libwbxml2-utils)"
        );
        println!("skipped: libwbxml (libwbxml2-utils) is not installed");
    }
    here
}

fn tool(name: &str, args: &[&str], input: &[u8], ext_in: &str, ext_out: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let i = dir.path().join(format!("in.{ext_in}"));
    let o = dir.path().join(format!("out.{ext_out}"));
    std::fs::write(&i, input).unwrap();
    let mut cmd = Command::new(name);
    cmd.args(args).arg("-o").arg(&o).arg(&i);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{name} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(&o).unwrap()
}

#[test]
fn devcare_round_trips_its_own_messages_and_wbxml_is_smaller() {
    for (r, xml) in messages() {
        for table in [false, true] {
            let bin = xml_to_wbxml(&xml, table).unwrap();
            assert!(is_wbxml(&bin) && !is_wbxml(xml.as_bytes()));
            assert!(
                bin.len() * 2 < xml.len() + 200,
                "{} vs {}",
                bin.len(),
                xml.len()
            );
            let back = wbxml_to_xml(&bin, limits().max_bytes).unwrap();
            assert_eq!(
                parse_alerts(&back, &limits()).unwrap(),
                vec![r.clone()],
                "{back}"
            );
        }
    }
    // b64 Data survives too.
    let r = &reports()[0];
    let xml = render_alert_as(r, None, 3, DataFormat::B64);
    let doc = format!("<SyncML><SyncBody>{xml}<Final/></SyncBody></SyncML>");
    let back = wbxml_to_xml(&xml_to_wbxml(&doc, true).unwrap(), 65_536).unwrap();
    assert_eq!(parse_alerts(&back, &limits()).unwrap(), vec![r.clone()]);
}

#[test]
fn libwbxml_reads_what_devcare_writes_and_devcare_reads_what_libwbxml_writes() {
    if !libwbxml() {
        return;
    }
    for (r, xml) in messages() {
        // devcare → libwbxml → XML devcare reads.
        for table in [false, true] {
            let bin = xml_to_wbxml(&xml, table).unwrap();
            let xml2 = tool("wbxml2xml", &[], &bin, "wbxml", "xml");
            let xml2 = String::from_utf8(xml2).unwrap();
            assert_eq!(
                parse_alerts(&xml2, &limits()).unwrap(),
                vec![r.clone()],
                "{xml2}"
            );
        }
        // libwbxml (with a string table, without) → devcare.
        let doc = format!(
            "<?xml version=\"1.0\"?>\n<!DOCTYPE SyncML PUBLIC \"-//SYNCML//DTD SyncML 1.2//EN\" \"http://www.openmobilealliance.org/tech/DTD/OMA-TS-DM_DTD-V1_2.dtd\">\n{xml}"
        );
        for args in [&[][..], &["-n"][..]] {
            let bin = tool("xml2wbxml", args, doc.as_bytes(), "xml", "wbxml");
            let back =
                wbxml_to_xml(&bin, limits().max_bytes).unwrap_or_else(|e| panic!("{args:?}: {e}"));
            assert_eq!(parse_alerts(&back, &limits()).unwrap(), vec![r.clone()]);
        }
    }
}

#[test]
fn a_package_in_wbxml_reads_as_in_xml() {
    let (_, xml) = &messages()[0];
    let with_fota = xml.replace(
        "<SyncBody>\n",
        "<SyncBody>\n<Alert><CmdID>9</CmdID><Data>1226</Data><Item><Meta><Type xmlns=\"syncml:metinf\">org.openmobilealliance.dm.firmwareupdate.download</Type></Meta><Data>402</Data></Item></Alert>\n",
    );
    let from_xml = parse_package(&with_fota, &limits()).unwrap();
    let bin = xml_to_wbxml(&with_fota, true).unwrap();
    let from_wbxml = parse_package(&wbxml_to_xml(&bin, 65_536).unwrap(), &limits()).unwrap();
    assert_eq!(from_xml, from_wbxml);
    assert_eq!(from_xml.alerts.len(), 2);
}

#[test]
fn hostile_wbxml_is_a_typed_error_before_any_allocation_for_it() {
    let (_, xml) = &messages()[0];
    let good = xml_to_wbxml(xml, true).unwrap();
    let max = limits().max_bytes;
    // Every truncation is an error, never a panic.
    for n in 0..good.len() {
        assert!(wbxml_to_xml(&good[..n], max).is_err(), "cut at {n}");
    }
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            vec![0x03, 0x81, 0x80, 0x80, 0x80, 0x80, 0x00],
            "longer than 5 bytes",
        ),
        // A string table longer than the document.
        (
            vec![0x03, 0xA4, 0x01, 0x6A, 0x8F, 0xFF, 0xFF, 0x7F],
            "string table",
        ),
        // Opaque data longer than the document.
        (
            vec![0x03, 0xA4, 0x01, 0x6A, 0x00, 0x6D, 0xC3, 0x8F, 0xFF, 0x7F],
            "opaque",
        ),
        // A string-table reference past the table.
        (
            vec![0x03, 0xA4, 0x01, 0x6A, 0x00, 0x6D, 0x83, 0x05, 0x01],
            "past its end",
        ),
        // Another charset.
        (vec![0x03, 0xA4, 0x01, 0x04, 0x00, 0x6D, 0x01], "not UTF-8"),
        // An unknown tag, an attribute token, a code page that is not SyncML's.
        (
            vec![0x03, 0xA4, 0x01, 0x6A, 0x00, 0x7F, 0x01],
            "not on code page 0",
        ),
        (vec![0x03, 0xA4, 0x01, 0x6A, 0x00, 0xED, 0x01], "attributes"),
        (
            vec![0x03, 0xA4, 0x01, 0x6A, 0x00, 0x00, 0x07, 0x6D, 0x01],
            "code page 7",
        ),
        // END with nothing open, two roots, text outside the root.
        (
            vec![0x03, 0xA4, 0x01, 0x6A, 0x00, 0x01],
            "END with no element open",
        ),
        (
            vec![0x03, 0xA4, 0x01, 0x6A, 0x00, 0x2D, 0x2D],
            "after the root",
        ),
        (
            vec![0x03, 0xA4, 0x01, 0x6A, 0x00, 0x03, 0x41, 0x00],
            "outside the root",
        ),
        (b"<SyncML/>".to_vec(), "is not WBXML"),
    ];
    for (bytes, want) in cases {
        let e = wbxml_to_xml(&bytes, max).unwrap_err();
        assert!(e.to_string().contains(want), "{bytes:02x?}: {e}");
    }
    // Nesting deeper than 64.
    let mut deep = vec![0x03, 0xA4, 0x01, 0x6A, 0x00];
    deep.extend(std::iter::repeat_n(0x6D, 70));
    let e = wbxml_to_xml(&deep, max).unwrap_err();
    assert!(e.to_string().contains("deeper than 64"), "{e}");
    // Over the size limit: refused before reading.
    assert!(
        wbxml_to_xml(&good, 10)
            .unwrap_err()
            .to_string()
            .contains("the limit is 10")
    );
    // The encoder refuses what SyncML DM has no token for.
    assert!(xml_to_wbxml("<SyncML><Foo/></SyncML>", false).is_err());
    assert!(xml_to_wbxml("<SyncML a=\"1\"/>", false).is_err());
}

#[test]
fn libwbxml_reads_the_status_fragment_spliced_into_a_wbxml_response() {
    use devcare::alert::render_status;
    use devcare::alert::wbxml::xml_to_wbxml_fragment;
    let statuses = [
        render_status(2, "5", "4", 200),
        render_status(3, "5", "7", 404),
    ]
    .concat();
    let fragment = xml_to_wbxml_fragment(&statuses).unwrap();
    let response = crate::dm_package::splice_into_response(&fragment);
    let ours = wbxml_to_xml(&response, 65_536).unwrap();
    let mut readers = vec![("devcare", ours)];
    if libwbxml() {
        let xml = tool("wbxml2xml", &[], &response, "wbxml", "xml");
        readers.push(("libwbxml", String::from_utf8(xml).unwrap()));
    }
    for (who, xml) in readers {
        let squeezed: String = xml.split_whitespace().collect();
        for part in [
            "<Status><CmdID>2</CmdID><MsgRef>5</MsgRef><CmdRef>4</CmdRef><Cmd>Alert</Cmd><Data>200</Data></Status>",
            "<Status><CmdID>3</CmdID><MsgRef>5</MsgRef><CmdRef>7</CmdRef><Cmd>Alert</Cmd><Data>404</Data></Status><Final/>",
        ] {
            assert!(squeezed.contains(part), "{who}: {part} in {xml}");
        }
    }
    // A fragment that switched to MetInf ends back on the SyncML page.
    let meta =
        xml_to_wbxml_fragment("<Meta><Type xmlns=\"syncml:metinf\">x</Type></Meta>").unwrap();
    assert_eq!(&meta[meta.len() - 2..], &[0x00, 0x00]);
    // Anything but SyncML DM elements is refused, typed.
    assert!(xml_to_wbxml_fragment("<html/>").is_err());
}
