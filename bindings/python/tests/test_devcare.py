"""The devcare Python bindings, end to end: a server and 200 devices with a Python DM tree,
5% injected failures; only the failed devices report, care converges, statistics match; bad
input raises the mapped exception; the slot function matches the shared vectors.

Run with the generated module and libdevcare_uniffi.so in one folder on sys.path
(bindings/test.sh does that)."""
import json
import os
import devcare

T0 = 1780000000000
MIN = 60000
MASTER = bytes([7] * 32)
SEED = bytes([42] * 32)
CAMPAIGN = """
id = "apn-py"
revision = 1
issued_at = 2026-05-28T20:26:40Z
salt = "000102030405060708090a0b0c0d0e0f"
targets = { all = true }

[[settings]]
op = "replace"
uri = "./AP/Default/APN"
value = "internet.example"

[[settings]]
op = "replace"
uri = "./Proxy/Port"
value = 8080

[[settings]]
op = "replace"
uri = "./Proxy/Enabled"
value = true

[schedule]
evaluate_after = "5m"
sample_success = "0%"
conditions = [{ kind = "any-failed" }, { kind = "payload-incomplete" }]

[schedule.report]
offset = "1m"
window = "30m"
deadline = "6h"

[schedule.care]
attempts = 3
spacing = "10m"
"""


class Tree(devcare.DmTree):
    """An in-memory DM tree; `fail` names a URI whose command returns 500."""

    def __init__(self, fail=None):
        self.nodes = {}
        self.fail = fail

    def apply(self, setting):
        if setting.uri == self.fail:
            return devcare.ApplyOutcome(status=500, verify=devcare.VerifyOutcome.NOT_CHECKED)
        self.nodes[setting.uri] = setting.value
        return devcare.ApplyOutcome(status=200, verify=devcare.VerifyOutcome.MATCH)


class Exploding(devcare.DmTree):
    def apply(self, setting):
        raise devcare.DevcareError.Callback("tree is read-only")


PASSED = []


def test(fn):
    fn()
    PASSED.append(fn.__name__)
    print("ok", fn.__name__)
    return fn


def device(server_pk, i, path=None):
    dev_id = f"dev-{i:04}"
    key = devcare.derive_device_key(MASTER, dev_id)
    return dev_id, devcare.DeviceHost.open(path, dev_id, [], server_pk, key)


@test
def fleet_of_200_only_failures_report_and_care_converges():
    server = devcare.ServerHost.open(None, MASTER)
    cid = server.create_campaign(CAMPAIGN, 200, T0)
    payload = server.build_payload(cid, SEED, T0 + 24 * 60 * MIN, T0)
    pk = devcare.public_key(SEED)
    agents = {}
    failed = set()
    reports = 0
    for i in range(200):
        fail = "./Proxy/Port" if i % 20 == 7 else None  # 5% injected failures
        dev_id, agent = device(pk, i)
        tree = Tree(fail)
        agent.receive_payload(payload, T0, tree)
        assert len(tree.nodes) == (2 if fail else 3)
        wake = agent.tick(T0 + 5 * MIN)
        if fail:
            failed.add(dev_id)
            assert wake is not None and T0 + 6 * MIN <= wake < T0 + 36 * MIN
        else:
            assert wake is None, "a healthy device stays silent"
        agents[dev_id] = agent
    # Reports at their slots.
    for t in range(T0, T0 + 40 * MIN, MIN):
        for dev_id, agent in agents.items():
            due = agent.next_report(t)
            if due is None:
                continue
            agent.report_sent(due.campaign, due.attempt, t)
            result = server.ingest_report(due.bytes, t)
            assert result.outcome.is_ACCEPTED() and result.dm_status == 200
            agent.report_acknowledged(due.campaign, due.attempt, t)
            reports += 1
            # A replay is a duplicate: acknowledged, nothing changes.
            again = server.ingest_report(due.bytes, t)
            assert again.outcome.is_DUPLICATE() and again.dm_status == 200
    assert reports == len(failed) == 10
    # Care until nothing is due: the device's tree now accepts the setting.
    now = T0 + 40 * MIN
    for _ in range(5):
        while (order := server.next_care(now)) is not None:
            assert order.settings == [1]
            agents[order.device].receive_care(order.campaign, order.revision, order.attempt, order.settings, now, Tree())
            server.care_outcome(order.campaign, order.device, order.attempt, True, now)
        now += 10 * MIN
    server.tick(T0 + 6 * 60 * MIN)
    st = server.stats(cid)
    assert (st.targeted, st.failure_reports, st.recovered, st.escalated, st.in_care) == (200, 10, 10, 0, 0), st
    assert st.presumed_ok == 190 and st.settled and st.care_dispatched == 10


@test
def forged_payload_raises_refused_and_changes_nothing():
    server = devcare.ServerHost.open(None, MASTER)
    cid = server.create_campaign(CAMPAIGN, 10, T0)
    payload = bytearray(server.build_payload(cid, SEED, T0 + 60 * MIN, T0))
    payload[-10] ^= 1
    _, agent = device(devcare.public_key(SEED), 1)
    try:
        agent.receive_payload(bytes(payload), T0, Tree())
        raise AssertionError("a forged payload was accepted")
    except devcare.DevcareError.Refused as e:
        assert e.reason == "bad-signature", e
    assert agent.rejections() == 1
    assert agent.tick(T0 + 10 * MIN) is None


@test
def bad_inputs_raise_mapped_errors():
    try:
        devcare.ServerHost.open(None, b"short")
        raise AssertionError("a short key was accepted")
    except devcare.DevcareError.InvalidInput as e:
        assert "master_key: must be 32 bytes, got 5" in str(e), e
    server = devcare.ServerHost.open(None, MASTER)
    try:
        server.create_campaign(CAMPAIGN.replace('window = "30m"', 'window = "soon"'), 10, T0)
        raise AssertionError("a bad campaign was accepted")
    except devcare.DevcareError.InvalidInput as e:
        assert "campaign.toml:30:10: schedule.report.window" in str(e), e
    result = server.ingest_report(b"garbage", T0)
    assert result.outcome.is_REJECTED() and result.dm_status == 400
    cid = server.create_campaign(CAMPAIGN, 10, T0)
    payload = server.build_payload(cid, SEED, T0 + 60 * MIN, T0)
    _, agent = device(devcare.public_key(SEED), 2)
    try:
        agent.receive_payload(payload, T0, Exploding())
        raise AssertionError("the tree's exception was swallowed")
    except devcare.DevcareError.Callback as e:
        assert "read-only" in str(e)
    # The settings the tree did not apply count as missing: the device reports.
    assert agent.tick(T0 + 5 * MIN) is not None


@test
def reports_travel_as_dm_generic_alerts():
    server = devcare.ServerHost.open(None, MASTER)
    cid = server.create_campaign(CAMPAIGN, 10, T0)
    payload = server.build_payload(cid, SEED, T0 + 60 * MIN, T0)
    _, agent = device(devcare.public_key(SEED), 3)
    agent.receive_payload(payload, T0, Tree("./Proxy/Port"))
    slot = agent.tick(T0 + 5 * MIN)
    assert agent.next_report_alert(slot - 1) is None
    due = agent.next_report_alert(slot)
    assert "<Data>1226</Data>" in due.xml and "uri=./Proxy/Port" in due.xml
    agent.report_sent(due.campaign, due.attempt, slot)
    me = "dev-0003"
    # The same message in another device's DM session: refused whole, nothing recorded; a
    # forged success probe in this device's name cannot suppress its report either.
    for session in ("dev-0004", "attacker"):
        try:
            server.ingest_alert(due.xml, session, slot)
            raise AssertionError("a report was taken for a device outside its session")
        except devcare.DevcareError.Refused as e:
            assert e.reason == "not-sender", e
    assert server.stats(cid).failure_reports == 0
    try:
        server.ingest_gateway_alert(due.xml, ["dev-0001"], slot)
        raise AssertionError("a gateway spoke for a device outside its list")
    except devcare.DevcareError.Refused as e:
        assert e.reason == "not-sender", e
    first = server.ingest_alert(due.xml, me, slot)
    assert len(first) == 1 and first[0].outcome.is_ACCEPTED() and first[0].dm_status == 200
    assert server.ingest_alert(due.xml, me, slot)[0].outcome.is_DUPLICATE()
    assert server.ingest_gateway_alert(due.xml, ["dev-0001", me], slot)[0].outcome.is_DUPLICATE()
    try:
        server.ingest_alert(due.xml.replace("org.devcare.report.failure", "com.vendor.x"), me, slot)
        raise AssertionError("an unknown alert type was accepted")
    except devcare.DevcareError.Refused as e:
        assert e.reason == "unknown-type"


FIRMWARE = (
    "<Alert><CmdID>2</CmdID><Data>1226</Data><Item><Source><LocURI>./FUMO/Download</LocURI></Source>"
    "<Meta><Type xmlns=\"syncml:metinf\">org.openmobilealliance.dm.firmwareupdate.download</Type></Meta>"
    "<Data>402</Data></Item></Alert>"
)


@test
def a_dm_toolkit_package_is_answered_per_alert_and_the_status_comes_back():
    server = devcare.ServerHost.open(None, MASTER)
    cid = server.create_campaign(CAMPAIGN, 10, T0)
    payload = server.build_payload(cid, SEED, T0 + 60 * MIN, T0)
    _, agent = device(devcare.public_key(SEED), 5)
    agent.receive_payload(payload, T0, Tree("./Proxy/Port"))
    slot = agent.tick(T0 + 5 * MIN)
    assert agent.next_report_items(slot - 1, devcare.ItemFormat.CHR) is None
    due = agent.next_report_items(slot, devcare.ItemFormat.B64)
    assert due.campaign == cid and due.attempt == 1 and len(due.items) == 1
    item = due.items[0]
    assert item.meta_type == "org.devcare.report.failure" and item.format == "b64" and item.target is None
    # The toolkit builds package 1 itself: devcare's Alert from the Items, a firmware alert.
    items = "".join(
        "<Item><Source><LocURI>%s</LocURI></Source><Meta><Type xmlns=\"syncml:metinf\">%s</Type>"
        "<Format xmlns=\"syncml:metinf\">%s</Format><Mark xmlns=\"syncml:metinf\">%s</Mark></Meta>"
        "<Data>%s</Data></Item>" % (i.source, i.meta_type, i.format, i.mark, i.data)
        for i in due.items
    )
    xml = (
        "<SyncML><SyncHdr><MsgID>3</MsgID></SyncHdr><SyncBody><Alert><CmdID>1</CmdID><Data>1226</Data>"
        + items + "</Alert>" + FIRMWARE + "<Final/></SyncBody></SyncML>"
    )
    agent.report_sent(due.campaign, due.attempt, slot)
    me = "dev-0005"
    try:
        server.ingest_package(xml.encode(), "dev-0006", slot, 2)
        raise AssertionError("another device's session carried this report")
    except devcare.DevcareError.Refused as e:
        assert e.reason == "not-sender", e
    got = server.ingest_package(xml.encode(), me, slot, 2)
    assert got.msg_id == "3" and got.encoding == devcare.MessageEncoding.XML and len(got.alerts) == 2
    ours, fota = got.alerts
    assert ours.cmd_id == "1" and ours.result.outcome.is_ACCEPTED() and ours.result.dm_status == 200
    assert fota.result is None and fota.items[0].data == "402" and fota.items[0].source == "./FUMO/Download"
    text = got.statuses.decode()
    assert "<CmdRef>1</CmdRef>" in text and "<MsgRef>3</MsgRef>" in text and "<Data>200</Data>" in text
    assert agent.report_status(due.campaign, due.attempt, ours.result.dm_status, slot) == devcare.ReportAnswer.ACKNOWLEDGED
    # devcare's own WBXML package of the same report (a second copy of the device): a
    # duplicate, answered in WBXML.
    _, twin = device(devcare.public_key(SEED), 5)
    twin.receive_payload(payload, T0, Tree("./Proxy/Port"))
    twin.tick(T0 + 5 * MIN)
    pkg = twin.next_report_package(slot, "4F", 1, "https://dm.example", devcare.ItemFormat.CHR, devcare.MessageEncoding.WBXML)
    assert pkg.bytes[0] == 0x03
    again = server.ingest_package(pkg.bytes, me, slot, 2)
    assert again.encoding == devcare.MessageEncoding.WBXML and again.alerts[0].result.outcome.is_DUPLICATE()
    assert again.statuses and b"<" not in again.statuses
    try:
        server.ingest_package(pkg.bytes[: len(pkg.bytes) // 2], me, slot, 2)
        raise AssertionError("a cut WBXML message was taken")
    except devcare.DevcareError.Refused as e:
        assert e.reason == "malformed-wbxml", e
    assert server.stats(cid).failure_reports == 1


@test
def key_files_say_what_they_hold():
    pem = devcare.write_key_file(devcare.KeyFileKind.SIGNING, SEED)
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")
    back = devcare.read_key_file(pem, devcare.KeyFileKind.SIGNING)
    assert back.key == SEED and not back.legacy_hex
    try:
        devcare.read_key_file(pem, devcare.KeyFileKind.PUBLIC)
        raise AssertionError("a signing key was read as a public key")
    except devcare.DevcareError.Refused as e:
        assert e.reason == "key-wrong-kind", e
    public = devcare.write_key_file(devcare.KeyFileKind.PUBLIC, devcare.public_key(SEED))
    assert devcare.read_key_file(public, devcare.KeyFileKind.PUBLIC).key == devcare.public_key(SEED)
    assert devcare.read_key_file(SEED.hex(), devcare.KeyFileKind.SIGNING).legacy_hex


@test
def slot_function_matches_the_shared_vectors():
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.environ.get("DEVCARE_VECTORS") or os.path.join(here, "..", "..", "..", "tests", "vectors", "slots.json")
    with open(path) as f:
        vectors = json.load(f)["vectors"]
    for v in vectors:
        salt = bytes.fromhex(v["salt_hex"])
        dev = v["device"]
        assert devcare.slot(salt, dev) == int(v["slot_hex"], 16)
        for rt in v["report_times"]:
            got = devcare.first_report_at(salt, dev, v["evaluated_at_ms"], rt["offset_ms"], rt["window_ms"])
            assert got == rt["report_at_ms"]
        r = v["retry"]
        for n, d in enumerate(r["delays_ms"], start=1):
            assert devcare.retry_delay(salt, dev, n, r["backoff_ms"], r["max_backoff_ms"]) == d
        for s in v["sampled"]:
            assert devcare.sampled(salt, dev, s["ppm"]) == s["sampled"]
    assert len(vectors) == 16


@test
def wire_vectors_decode_to_the_stated_values():
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.environ.get("DEVCARE_WIRE_VECTORS") or os.path.join(here, "..", "..", "..", "tests", "vectors", "wire.json")
    with open(path) as f:
        d = json.load(f)
    c = d["campaign"]
    # Format 2, and format 1 (written before care timeouts: the default timeout).
    for field, fmt, timeout in (("payload_hex", 2, "care_timeout_ms"), ("payload_v1_hex", 1, "care_timeout_ms_v1")):
        p = devcare.open_payload(bytes.fromhex(d[field]), bytes.fromhex(d["public_key_hex"]), d["now_ms"])
        assert (p.campaign, p.revision, p.issued_at_ms, p.valid_until_ms) == (c["id"], c["revision"], c["issued_at_ms"], c["valid_until_ms"])
        assert p.setting_uris == c["setting_uris"]
        assert (p.format, p.care_timeout_ms) == (fmt, c[timeout]), (field, p)
    key = devcare.derive_device_key(bytes.fromhex(d["master_hex"]), d["report"]["device"])
    assert key.hex() == d["device_key_hex"]
    r = devcare.decode_report(bytes.fromhex(d["report_hex"]), key)
    w = d["report"]
    assert (r.campaign, r.revision, r.device, r.attempt, r.evaluated_at_ms, r.kind) == (w["campaign"], w["revision"], w["device"], w["attempt"], w["evaluated_at_ms"], w["kind"])
    assert r.failed_settings == w["failed_settings"]



@test
def group_campaign_check_in_and_operator_pause():
    server = devcare.ServerHost.open(None, MASTER)
    cid = server.create_campaign(CAMPAIGN.replace("targets = { all = true }", 'targets = { groups = ["beta"] }'), 3, T0)
    for dev_id in ("dev-0001", "dev-0003"):
        server.set_device_groups(dev_id, ["beta"])
    server.set_device_groups("dev-0002", ["alpha"])
    payload = server.build_payload(cid, SEED, T0 + 24 * 60 * MIN, T0)
    pk = devcare.public_key(SEED)
    member = devcare.DeviceHost.open(None, "dev-0001", ["beta"], pk, devcare.derive_device_key(MASTER, "dev-0001"))
    member.receive_payload(payload, T0, Tree("./Proxy/Port"))
    slot = member.tick(T0 + 5 * MIN)
    due = member.next_report(slot)
    member.report_sent(due.campaign, due.attempt, slot)
    result = server.ingest_report(due.bytes, slot)
    assert result.outcome.is_ACCEPTED() and result.dm_status == 200, result
    assert member.report_status(due.campaign, due.attempt, 503, slot) == devcare.ReportAnswer.SEND_AGAIN
    assert member.report_status(due.campaign, due.attempt, result.dm_status, slot) == devcare.ReportAnswer.ACKNOWLEDGED
    # Outside the group, the payload is refused and nothing is applied.
    outsider = devcare.DeviceHost.open(None, "dev-0002", ["alpha"], pk, devcare.derive_device_key(MASTER, "dev-0002"))
    tree = Tree()
    try:
        outsider.receive_payload(payload, T0, tree)
        raise AssertionError("a non-member took the group payload on")
    except devcare.DevcareError.Refused as e:
        assert e.reason == "not-targeted", e
    assert tree.nodes == {} and outsider.check_in() == []
    # dev-0003 missed the broadcast: it checks in at revision 0 and gets care for every setting.
    assert member.check_in() == [devcare.CheckInRecord(campaign=cid, applied_revision=0)]
    assert server.check_in(cid, "dev-0003", 0, T0 + 10 * MIN)
    assert not server.check_in(cid, "dev-0003", 0, T0 + 10 * MIN), "already in care"
    try:
        server.check_in(cid, "dev-0002", 0, T0 + 10 * MIN)
        raise AssertionError("a non-member check-in opened care")
    except devcare.DevcareError.Refused as e:
        assert e.reason == "not-targeted", e
    # An operator pause holds every order until resume.
    now = slot + MIN
    server.pause(cid, now)
    assert server.next_care(now) is None and server.stats(cid).paused
    try:
        server.pause(cid, now)
        raise AssertionError("paused twice")
    except devcare.DevcareError.Refused as e:
        assert e.reason == "already-paused", e
    st = server.stats(cid)
    assert st.operator_paused and st.breaker_since_ms is None, st
    # The abort threshold has not paused it: there is nothing to override.
    try:
        server.override_abort(cid, "ops", "looked at it", now)
        raise AssertionError("overrode a breaker that never tripped")
    except devcare.DevcareError.Refused as e:
        assert e.reason == "breaker-not-tripped", e
    assert member.check_in_reports() == [], "nothing given up unheard"
    server.resume(cid, now)
    orders = []
    while (order := server.next_care(now)) is not None:
        orders.append((order.device, order.settings))
        recovered = True
        if order.device == "dev-0001":
            recovered = member.receive_care(order.campaign, order.revision, order.attempt, order.settings, now, Tree())
            assert recovered, "the device's own verdict"
        server.care_outcome(order.campaign, order.device, order.attempt, recovered, now)
    assert sorted(orders) == [("dev-0001", [1]), ("dev-0003", [0, 1, 2])], orders
    assert member.check_in() == [devcare.CheckInRecord(campaign=cid, applied_revision=1)]
    st = server.stats(cid)
    assert (st.failure_reports, st.checkins_behind, st.recovered, st.in_care, st.paused) == (1, 1, 2, 0, False), st
    # A relapse: ./Proxy/Port reverts on the recovered member. Read back, it reports again
    # (a new attempt), the server opens a new cycle and care fixes it again.
    good = devcare.ApplyOutcome(status=200, verify=devcare.VerifyOutcome.MATCH)
    assert not member.recheck(cid, [good, good, good], now + 5 * MIN), "still fine"
    bad = devcare.ApplyOutcome(status=404, verify=devcare.VerifyOutcome.NOT_CHECKED)
    assert member.recheck(cid, [good, bad, good], now + 10 * MIN)
    assert member.check_in() == [devcare.CheckInRecord(campaign=cid, applied_revision=0)]
    slot = member.tick(now + 10 * MIN)
    due = member.next_report(slot)
    assert due.attempt == 2, due
    member.report_sent(due.campaign, due.attempt, slot)
    result = server.ingest_report(due.bytes, slot)
    assert result.outcome.is_ACCEPTED(), result
    member.report_acknowledged(due.campaign, due.attempt, slot)
    order = server.next_care(slot)
    assert (order.device, order.attempt, order.settings) == ("dev-0001", 1, [1]), order
    fixed = member.receive_care(order.campaign, order.revision, order.attempt, order.settings, slot, Tree())
    server.care_outcome(order.campaign, order.device, order.attempt, fixed, slot)
    st = server.stats(cid)
    assert (fixed, st.failure_reports, st.recovered, st.in_care) == (True, 2, 2, 0), st



@test
def revision_2_mid_window_and_care_that_times_out_is_retried_then_escalated():
    server = devcare.ServerHost.open(None, MASTER)
    cid = server.create_campaign(CAMPAIGN, 3, T0)
    payload = server.build_payload(cid, SEED, T0 + 24 * 60 * MIN, T0)
    pk = devcare.public_key(SEED)
    dev = devcare.DeviceHost.open(None, "dev-0001", [], pk, devcare.derive_device_key(MASTER, "dev-0001"))
    dev.receive_payload(payload, T0, Tree("./Proxy/Port"))
    slot = dev.tick(T0 + 5 * MIN)
    due = dev.next_report(slot)
    dev.report_sent(due.campaign, due.attempt, slot)
    # Revision 2 before the report arrives: revision 1's report is answered 410 (stop
    # retrying), and the device takes revision 2 on, healthy this time.
    now = slot + MIN
    server.revise_campaign(CAMPAIGN.replace("revision = 1", "revision = 2"), 3, now)
    result = server.ingest_report(due.bytes, now)
    assert result.outcome.is_REJECTED() and result.dm_status == 410, result
    assert result.outcome.reason == "wrong-revision", result
    # A definitive refusal: the device stops resending; a 5xx is not one.
    try:
        dev.report_refused(due.campaign, due.attempt, 503, now)
        raise AssertionError("a 503 stopped the resends")
    except devcare.DevcareError.Refused as e:
        assert e.reason == "not-a-refusal", e
    dev.report_refused(due.campaign, due.attempt, result.dm_status, now)
    assert dev.next_report(now + 60 * MIN) is None, "no resend after a 410"
    payload2 = server.build_payload(cid, SEED, T0 + 24 * 60 * MIN, now)
    dev.receive_payload(payload2, now, Tree())
    assert dev.tick(now + 5 * MIN) is None, "healthy on revision 2: nothing to report"
    assert dev.check_in() == [devcare.CheckInRecord(campaign=cid, applied_revision=2)]
    assert server.stats(cid).failure_reports == 0, "statistics are per revision"
    # dev-0002 is behind and offline: its care goes unanswered. Each attempt is in flight
    # until the care timeout (1 h by default), then counts as failed; the next is due after
    # the spacing (15 min); after the third the device is escalated.
    assert server.check_in(cid, "dev-0002", 0, now)
    assert server.care_in_flight(cid) == []
    for attempt in (1, 2, 3):
        order = server.next_care(now)
        assert (order.device, order.attempt, order.revision) == ("dev-0002", attempt, 2), order
        flying = server.care_in_flight(cid)
        assert flying == [devcare.InFlightCare(device="dev-0002", attempt=attempt, expires_ms=now + 60 * MIN)], flying
        assert server.tick(now + 60 * MIN - 1) == now + 60 * MIN, "woken for the timeout"
        server.tick(now + 60 * MIN)
        now += 60 * MIN + 15 * MIN
    st = server.stats(cid)
    assert (st.care_dispatched, st.care_timed_out, st.escalated, st.in_care) == (3, 3, 1, 0), st
    assert server.care_in_flight(cid) == []
    try:
        server.care_in_flight("nope")
        raise AssertionError("an unknown campaign listed care")
    except devcare.DevcareError.Refused as e:
        assert e.reason == "unknown-campaign", e



@test
def the_known_sample_makes_coverage_exact_and_names_the_silent_sampled():
    server = devcare.ServerHost.open(None, MASTER)
    cid = server.create_campaign(CAMPAIGN.replace('sample_success = "0%"', 'sample_success = "20%"'), 50, T0)
    fleet = ["dev-%04d" % i for i in range(50)]
    view = server.sample(cid, fleet)
    assert 0 < view.sampled < 50 and view.silent == [d for d in fleet if d in view.silent], view
    assert server.stats(cid).coverage_basis == "design"
    server.set_sampled_targets(cid, view.sampled, T0)
    try:
        server.set_sampled_targets(cid, 51, T0)
        raise AssertionError("a sample larger than the fleet was taken")
    except devcare.DevcareError.Refused as e:
        assert e.reason == "sample-size", e
    assert server.stats(cid).coverage_basis == "known-sample"
    payload = server.build_payload(cid, SEED, T0 + 24 * 60 * MIN, T0)
    pk = devcare.public_key(SEED)
    # Every sampled device but the first received the payload, is healthy and probes; the
    # first missed the broadcast and stays silent: it is the one named.
    missed = view.silent[0]
    for d in view.silent[1:]:
        agent = devcare.DeviceHost.open(None, d, [], pk, devcare.derive_device_key(MASTER, d))
        agent.receive_payload(payload, T0, Tree())
        slot = agent.tick(T0 + 5 * MIN)
        due = agent.next_report(slot)
        assert server.ingest_report(due.bytes, slot).outcome.is_ACCEPTED()
    assert server.sample(cid, fleet).silent == [missed]
    # While its probe may still come the silent device is pending: the interval's top is 1.
    assert server.stats(cid).coverage_hi == 1.0
    # Past the deadline its silence means a missed broadcast.
    server.tick(T0 + 2 * 24 * 60 * MIN)
    st = server.stats(cid)
    assert st.success_probes == view.sampled - 1, st
    assert st.coverage_lo <= 49 / 50 <= st.coverage_hi and st.coverage_hi < 1.0, st
    # A healthy device outside the sample stays silent.
    outsider = next(d for d in fleet if d not in view.silent and d != missed)
    agent = devcare.DeviceHost.open(None, outsider, [], pk, devcare.derive_device_key(MASTER, outsider))
    agent.receive_payload(payload, T0, Tree())
    assert agent.tick(T0 + 5 * MIN) is None, "healthy and not sampled: silent"



@test
def a_degraded_broadcast_hands_the_app_paced_unicast_batches_of_silent_targets():
    server = devcare.ServerHost.open(None, MASTER)
    cid = server.create_campaign(CAMPAIGN.replace('sample_success = "0%"', 'sample_success = "20%"'), 50, T0)
    fleet = ["dev-%04d" % i for i in range(50)]
    server.set_sampled_targets(cid, server.sample(cid, fleet).sampled, T0)
    for bad, reason in ((1.5, "fallback"), (0.99, "fallback")):
        try:
            policy = devcare.FallbackPolicy.UNICAST(0) if bad < 1 else devcare.FallbackPolicy.NONE()
            server.set_coverage_floor(cid, bad, policy, T0)
            raise AssertionError("a bad floor or pace was taken")
        except devcare.DevcareError.Refused as e:
            assert e.reason == reason, e
    server.set_coverage_floor(cid, 0.99, devcare.FallbackPolicy.UNICAST(3), T0)
    server.build_payload(cid, SEED, T0 + 6 * 60 * MIN, T0)
    assert server.fallback_due(cid, T0).is_NOTHING()
    # No sampled device probes: at the check (the next wake) the broadcast is degraded.
    wake = server.tick(T0 + MIN)
    assert T0 + 60 * MIN < wake < T0 + 6 * 60 * MIN, wake
    server.tick(wake)
    due = server.fallback_due(cid, wake)
    assert due.is_UNICAST() and due.allowance == 3, due
    batch = server.fallback_unicast(cid, list(reversed(fleet)), wake)
    assert batch == fleet[:3], batch
    assert server.fallback_due(cid, wake) == devcare.FallbackAction.WAIT(wake + MIN)
    assert server.fallback_unicast(cid, fleet, wake) == []
    assert server.fallback_unicast(cid, fleet, wake + MIN) == fleet[3:6]
    try:
        server.record_rebroadcast(cid, wake)
        raise AssertionError("a rebroadcast nobody asked for was recorded")
    except devcare.DevcareError.Refused as e:
        assert e.reason == "fallback", e


@test
def a_repair_polls_a_sample_first_and_a_settlement_limit_holds_the_campaign_open():
    server = devcare.ServerHost.open(None, MASTER)
    cid = server.create_campaign(CAMPAIGN.replace('sample_success = "0%"', 'sample_success = "20%"'), 50, T0)
    fleet = ["dev-%04d" % i for i in range(50)]
    assert server.record_sample(cid, fleet, T0) == server.sample(cid, fleet).sampled
    assert server.stats(cid).coverage_basis == "known-sample"
    server.set_settlement_limit(cid, 0, T0)
    server.set_coverage_floor(cid, 0.99, devcare.FallbackPolicy.REPAIR(10), T0)
    server.build_payload(cid, SEED, T0 + 6 * 60 * MIN, T0)
    wake = server.tick(T0 + MIN)
    server.tick(wake)
    # The pilot: a random sample of the silent targets (all 50 of so small a fleet, at
    # least 30), ten a minute — not in id order.
    due = server.fallback_due(cid, wake)
    assert due.is_UNICAST() and due.allowance == 10, due
    batch = server.fallback_unicast(cid, fleet, wake)
    assert len(batch) == 10 and batch != sorted(batch), batch
    # At the deadline nothing has been heard: the bound is above the limit of 0 and the
    # campaign stays open until the limit is lifted.
    server.tick(T0 + 6 * 60 * MIN)
    st = server.stats(cid)
    assert st.settlement_held and not st.settled and st.presumed_missed_hi > 0, st
    server.set_settlement_limit(cid, None, T0 + 6 * 60 * MIN)
    server.tick(T0 + 7 * 60 * MIN)
    assert server.stats(cid).settled


@test
def a_bad_group_pauses_alone_and_an_explained_override_releases_it():
    server = devcare.ServerHost.open(None, MASTER)
    cid = server.create_campaign(CAMPAIGN, 4, T0)
    server.set_device_groups("dev-0001", ["bad"])
    server.set_device_groups("dev-0002", ["good"])
    try:
        server.set_group_breaker(cid, "bad", 1.5, 1, 2, T0)
        raise AssertionError("a ratio outside (0, 1) was taken")
    except devcare.DevcareError.Refused as e:
        assert e.reason == "group-breaker", e
    server.set_group_breaker(cid, "bad", 0.05, 1, 2, T0)
    server.set_group_breaker(cid, "good", 0.05, 5, 2, T0)
    payload = server.build_payload(cid, SEED, T0 + 24 * 60 * MIN, T0)
    pk = devcare.public_key(SEED)
    for dev_id, group in (("dev-0001", "bad"), ("dev-0002", "good")):
        d = devcare.DeviceHost.open(None, dev_id, [group], pk, devcare.derive_device_key(MASTER, dev_id))
        d.receive_payload(payload, T0, Tree("./Proxy/Port"))
        slot = d.tick(T0 + 5 * MIN)
        due = d.next_report(slot)
        assert server.ingest_report(due.bytes, T0 + 90 * MIN).outcome.is_ACCEPTED()
    now = T0 + 90 * MIN
    bad, good = server.group_breakers(cid)
    assert (bad.group, bad.failures, bad.paused_since_ms) == ("bad", 1, now), bad
    assert (good.failures, good.paused_since_ms) == (1, None), good
    assert not server.stats(cid).paused, "the campaign goes on"
    order = server.next_care(now)
    assert order.device == "dev-0002", order
    server.care_outcome(order.campaign, order.device, order.attempt, True, now)
    assert server.next_care(now) is None, "the bad group's care is held"
    try:
        server.override_group_abort(cid, "bad", "", "x", now)
        raise AssertionError("an unexplained override was taken")
    except devcare.DevcareError.Refused as e:
        assert e.reason == "override-unexplained", e
    server.override_group_abort(cid, "bad", "ops", "model X checked", now)
    assert server.group_breakers(cid)[0].overridden
    assert server.next_care(now).device == "dev-0001"


@test
def a_call_back_into_the_agent_from_its_own_tree_is_refused_not_a_deadlock():
    server = devcare.ServerHost.open(None, MASTER)
    cid = server.create_campaign(CAMPAIGN, 10, T0)
    payload = server.build_payload(cid, SEED, T0 + 60 * MIN, T0)
    _, agent = device(devcare.public_key(SEED), 1)
    seen = []

    class Reentrant(devcare.DmTree):
        def apply(self, setting):
            if not seen:
                for call in (lambda: agent.tick(T0), lambda: agent.pending(), lambda: agent.check_in()):
                    try:
                        call()
                        seen.append("ran")
                    except devcare.DevcareError.Refused as e:
                        seen.append(e.reason)
                seen.append(len(server.stats(cid).__dict__) > 0)  # another object is free to use
            return devcare.ApplyOutcome(status=200, verify=devcare.VerifyOutcome.NOT_CHECKED)

    agent.receive_payload(payload, T0, Reentrant())
    assert seen == ["reentrant", "reentrant", "reentrant", True], seen
    assert agent.tick(T0 + 5 * MIN) is None and agent.pending() == [], "usable afterwards, healthy"



@test
def keys_rotate_mid_campaign():
    server = devcare.ServerHost.open(None, MASTER)
    cid = server.create_campaign(CAMPAIGN, 10, T0)
    old_pk, new_seed = devcare.public_key(SEED), bytes([9] * 32)
    new_pk = devcare.public_key(new_seed)
    _, agent = device(old_pk, 1)
    signed_new = server.build_payload(cid, new_seed, T0 + 60 * MIN, T0)
    try:
        agent.receive_payload(signed_new, T0, Tree())
        raise AssertionError("a payload of an untrusted key was taken")
    except devcare.DevcareError.Refused as e:
        assert e.reason == "unknown-key", e
    new_id = agent.add_trusted_key(new_pk)
    assert len(new_id) == 8
    old_id = agent.add_trusted_key(old_pk)  # already trusted: its id
    assert agent.remove_trusted_key(old_id) and not agent.remove_trusted_key(old_id)
    try:
        agent.remove_trusted_key(new_id)
        raise AssertionError("the last trusted key was removed")
    except devcare.DevcareError.InvalidInput:
        pass
    agent.receive_payload(signed_new, T0, Tree())
    server.add_master_key(bytes([8] * 32))
    assert server.remove_master_key(MASTER) and not server.remove_master_key(bytes([8] * 32))


CHILD = """
import os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(sys.argv[0])) if sys.argv[0] else ".")
import devcare

class Dying(devcare.DmTree):
    def __init__(self):
        self.n = 0
    def apply(self, setting):
        self.n += 1
        if self.n == 2:
            print("died after 1 setting", flush=True)
            os._exit(0)  # the power cut: no return, no cleanup
        return devcare.ApplyOutcome(status=200, verify=devcare.VerifyOutcome.NOT_CHECKED)

path, payload_hex, pk_hex, key_hex = sys.argv[1:5]
agent = devcare.DeviceHost.open(path, "dev-0001", [], bytes.fromhex(pk_hex), bytes.fromhex(key_hex))
agent.receive_payload(bytes.fromhex(payload_hex), %d, Dying())
print("the tree returned", flush=True)
sys.exit(1)
"""


@test
def a_device_killed_mid_apply_resumes_after_reopen():
    import subprocess
    import tempfile
    server = devcare.ServerHost.open(None, MASTER)
    cid = server.create_campaign(CAMPAIGN, 10, T0)
    payload = server.build_payload(cid, SEED, T0 + 24 * 60 * MIN, T0)
    pk = devcare.public_key(SEED)
    key = devcare.derive_device_key(MASTER, "dev-0001")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "device")
        child = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dying_device.py")
        with open(child, "w") as f:
            f.write(CHILD % T0)
        out = subprocess.run(["python3", child, path, payload.hex(), pk.hex(), key.hex()], capture_output=True, text=True)
        assert out.returncode == 0 and "died after 1 setting" in out.stdout, (out.stdout, out.stderr)
        with open(os.path.join(path, "devcare.log"), "ab") as log:
            log.write(bytes(25))  # an append the cut tore
        agent = devcare.DeviceHost.open(path, "dev-0001", [], pk, key)
        assert agent.torn_tail() == 25
        pending = agent.pending()
        assert pending == [devcare.PendingWork(campaign=cid, care_attempt=None, setting_uris=["./AP/Default/APN", "./Proxy/Port", "./Proxy/Enabled"])], pending
        tree = Tree()
        assert agent.resume(T0 + MIN, tree) == 1
        assert len(tree.nodes) == 3 and agent.pending() == []
        assert agent.tick(T0 + 5 * MIN) is None, "healthy after resume: silent"
        assert agent.check_in() == [devcare.CheckInRecord(campaign=cid, applied_revision=1)]

print(f"{len(PASSED)} passed, 0 failed")
