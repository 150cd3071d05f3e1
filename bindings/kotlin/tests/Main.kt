// The devcare Kotlin bindings on the JVM, end to end: a server and 200 devices with a Kotlin
// DM tree, 5% injected failures; only the failed devices report, care converges, statistics
// match; a forged payload raises the mapped exception; the slot function matches the shared
// vectors. Run by bindings/test.sh.
import uniffi.devcare.*

const val T0 = 1780000000000UL
const val MIN = 60000UL
val MASTER = ByteArray(32) { 7 }
val SEED = ByteArray(32) { 42 }

val CAMPAIGN = """
id = "apn-kt"
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

[schedule]
evaluate_after = "5m"
sample_success = "0%"

[schedule.report]
offset = "1m"
window = "30m"
deadline = "6h"
""".trimIndent()

/** An in-memory DM tree in Kotlin; `fail` names a URI whose command returns 500. */
class Tree(private val fail: String?) : DmTree {
    val nodes = mutableMapOf<String, DmValue>()
    override fun apply(setting: DmSetting): ApplyOutcome {
        if (setting.uri == fail) return ApplyOutcome(500u, VerifyOutcome.NOT_CHECKED)
        nodes[setting.uri] = setting.value
        return ApplyOutcome(200u, VerifyOutcome.MATCH)
    }
}

var passed = 0
fun check(cond: Boolean, what: String) {
    if (!cond) throw AssertionError(what)
}

fun test(name: String, body: () -> Unit) {
    body()
    passed++
    println("ok $name")
}

fun fleet() {
    val server = ServerHost.open(null, MASTER)
    val cid = server.createCampaign(CAMPAIGN, 200UL, T0)
    val payload = server.buildPayload(cid, SEED, T0 + 24UL * 60UL * MIN, T0)
    val pk = publicKey(SEED)
    val agents = mutableMapOf<String, DeviceHost>()
    var failed = 0
    for (i in 0 until 200) {
        val id = "dev-%04d".format(i)
        val fail = if (i % 20 == 7) "./Proxy/Port" else null
        val agent = DeviceHost.open(null, id, listOf(), pk, deriveDeviceKey(MASTER, id))
        val tree = Tree(fail)
        agent.receivePayload(payload, T0, tree)
        val wake = agent.tick(T0 + 5UL * MIN)
        if (fail != null) {
            failed++
            check(wake != null, "$id must report")
        } else {
            check(wake == null, "$id must stay silent")
        }
        agents[id] = agent
    }
    var reports = 0
    var t = T0
    while (t < T0 + 40UL * MIN) {
        for ((_, agent) in agents) {
            val due = agent.nextReport(t) ?: continue
            agent.reportSent(due.campaign, due.attempt, t)
            val r = server.ingestReport(due.bytes, t)
            check(r.outcome is IngestOutcome.Accepted && r.dmStatus.toInt() == 200, "accepted: $r")
            agent.reportAcknowledged(due.campaign, due.attempt, t)
            check(server.ingestReport(due.bytes, t).outcome is IngestOutcome.Duplicate, "replay is a duplicate")
            reports++
        }
        t += MIN
    }
    check(reports == failed && failed == 10, "reports $reports failed $failed")
    var now = T0 + 40UL * MIN
    repeat(5) {
        while (true) {
            val order = server.nextCare(now) ?: break
            agents.getValue(order.device).receiveCare(order.campaign, order.revision, order.attempt, order.settings, now, Tree(null))
            server.careOutcome(order.campaign, order.device, order.attempt, true, now)
        }
        now += 10UL * MIN
    }
    server.tick(T0 + 6UL * 60UL * MIN)
    val st = server.stats(cid)
    check(st.failureReports == 10UL && st.recovered == 10UL && st.inCare == 0UL, "stats $st")
    check(st.presumedOk == 190UL && st.settled, "stats $st")
}

fun forged() {
    val server = ServerHost.open(null, MASTER)
    val cid = server.createCampaign(CAMPAIGN, 10UL, T0)
    val payload = server.buildPayload(cid, SEED, T0 + 60UL * MIN, T0)
    payload[payload.size - 10] = (payload[payload.size - 10].toInt() xor 1).toByte()
    val agent = DeviceHost.open(null, "dev-1", listOf(), publicKey(SEED), deriveDeviceKey(MASTER, "dev-1"))
    try {
        agent.receivePayload(payload, T0, Tree(null))
        throw AssertionError("a forged payload was accepted")
    } catch (e: DevcareException.Refused) {
        check(e.reason == "bad-signature", "reason ${e.reason}")
    }
    check(agent.rejections() == 1UL, "counted")
}

/** A group campaign revised mid-window, a check-in behind, an operator pause. */
fun lifecycle() {
    val server = ServerHost.open(null, MASTER)
    val cid = server.createCampaign(CAMPAIGN.replace("targets = { all = true }", "targets = { groups = [\"beta\"] }"), 3UL, T0)
    server.setDeviceGroups("dev-1", listOf("beta"))
    server.setDeviceGroups("dev-2", listOf("beta"))
    val payload = server.buildPayload(cid, SEED, T0 + 24UL * 60UL * MIN, T0)
    val pk = publicKey(SEED)
    val member = DeviceHost.open(null, "dev-1", listOf("beta"), pk, deriveDeviceKey(MASTER, "dev-1"))
    member.receivePayload(payload, T0, Tree("./Proxy/Port"))
    val slot = member.tick(T0 + 5UL * MIN)!!
    val due = member.nextReport(slot)!!
    member.reportSent(due.campaign, due.attempt, slot)
    check(server.ingestReport(due.bytes, slot).dmStatus.toInt() == 200, "member accepted")
    member.reportAcknowledged(due.campaign, due.attempt, slot)
    try {
        DeviceHost.open(null, "dev-3", listOf("alpha"), pk, deriveDeviceKey(MASTER, "dev-3")).receivePayload(payload, T0, Tree(null))
        throw AssertionError("a non-member took the payload on")
    } catch (e: DevcareException.Refused) {
        check(e.reason == "not-targeted", "reason ${e.reason}")
    }
    check(server.checkIn(cid, "dev-2", 0u, T0 + 10UL * MIN), "a member that missed the broadcast gets care")
    val now = maxOf(slot, T0 + 10UL * MIN)
    server.pause(cid, now)
    check(server.nextCare(now) == null && server.stats(cid).paused, "paused")
    server.resume(cid, now)
    var orders = 0
    while (true) {
        val order = server.nextCare(now) ?: break
        orders++
        if (order.device == "dev-1") member.receiveCare(order.campaign, order.revision, order.attempt, order.settings, now, Tree(null))
        server.careOutcome(order.campaign, order.device, order.attempt, true, now)
    }
    check(orders == 2, "orders $orders")
    check(member.checkIn() == listOf(CheckInRecord(cid, 1u)), "recovered on revision 1")
    // Revision 2: the old report is refused with 410 and the member takes revision 2 on.
    server.reviseCampaign(CAMPAIGN.replace("targets = { all = true }", "targets = { groups = [\"beta\"] }").replace("revision = 1", "revision = 2"), 3UL, now)
    check(server.ingestReport(due.bytes, now).dmStatus.toInt() == 410, "old revision: stop retrying")
    try {
        member.reportRefused(due.campaign, due.attempt, 503u, now)
        throw AssertionError("a 503 was taken as a refusal")
    } catch (e: DevcareException.Refused) {
        check(e.reason == "not-a-refusal", "reason ${e.reason}")
    }
    val rev2 = server.buildPayload(cid, SEED, T0 + 24UL * 60UL * MIN, now)
    member.receivePayload(rev2, now, Tree(null))
    check(member.tick(now + 5UL * MIN) == null, "healthy on revision 2")
    check(member.checkIn() == listOf(CheckInRecord(cid, 2u)), "checks in with revision 2")
}

// A minimal JSON reader for the shared vector file (the JDK has none).
class Json(private val s: String) {
    private var i = 0
    private fun ws() { while (i < s.length && s[i].isWhitespace()) i++ }
    fun value(): Any? {
        ws()
        return when (s[i]) {
            '{' -> { i++; val m = mutableMapOf<String, Any?>(); ws()
                if (s[i] == '}') { i++; return m }
                while (true) { ws(); val k = str(); ws(); i++; m[k] = value(); ws()
                    if (s[i++] == '}') return m } ; @Suppress("UNREACHABLE_CODE") m }
            '[' -> { i++; val l = mutableListOf<Any?>(); ws()
                if (s[i] == ']') { i++; return l }
                while (true) { l.add(value()); ws(); if (s[i++] == ']') return l } ; @Suppress("UNREACHABLE_CODE") l }
            '"' -> str()
            't' -> { i += 4; true }
            'f' -> { i += 5; false }
            'n' -> { i += 4; null }
            else -> { val st = i; while (i < s.length && (s[i].isDigit() || s[i] == '-')) i++; s.substring(st, i).toLong() }
        }
    }
    private fun str(): String {
        val b = StringBuilder(); i++
        while (s[i] != '"') {
            if (s[i] == '\\') { i++; b.append(when (s[i]) { 'n' -> '\n'; 'u' -> { val c = s.substring(i + 1, i + 5).toInt(16).toChar(); i += 4; c }; else -> s[i] }) } else b.append(s[i])
            i++
        }
        i++
        return b.toString()
    }
}

fun hex(h: String) = ByteArray(h.length / 2) { h.substring(2 * it, 2 * it + 2).toInt(16).toByte() }

@Suppress("UNCHECKED_CAST")
fun vectors() {
    val path = System.getProperty("devcare.vectors")
    val doc = Json(java.io.File(path).readText()).value() as Map<String, Any?>
    val vs = doc["vectors"] as List<Map<String, Any?>>
    for (v in vs) {
        val salt = hex(v["salt_hex"] as String)
        val dev = v["device"] as String
        check(slot(salt, dev) == java.lang.Long.parseUnsignedLong(v["slot_hex"] as String, 16).toULong(), "slot $dev")
        for (rt in v["report_times"] as List<Map<String, Any?>>) {
            val got = firstReportAt(salt, dev, (v["evaluated_at_ms"] as Long).toULong(), (rt["offset_ms"] as Long).toULong(), (rt["window_ms"] as Long).toULong())
            check(got == (rt["report_at_ms"] as Long).toULong(), "report time $dev")
        }
        val r = v["retry"] as Map<String, Any?>
        (r["delays_ms"] as List<Long>).forEachIndexed { n, d ->
            check(retryDelay(salt, dev, (n + 1).toUInt(), (r["backoff_ms"] as Long).toULong(), (r["max_backoff_ms"] as Long).toULong()) == d.toULong(), "retry $dev")
        }
        for (sm in v["sampled"] as List<Map<String, Any?>>) {
            check(sampled(salt, dev, (sm["ppm"] as Long).toUInt()) == sm["sampled"] as Boolean, "sampled $dev")
        }
    }
    check(vs.size == 16, "16 vectors")
}

@Suppress("UNCHECKED_CAST")
fun wireVectors() {
    val d = Json(java.io.File(System.getProperty("devcare.wire")).readText()).value() as Map<String, Any?>
    val c = d["campaign"] as Map<String, Any?>
    // Format 2, and format 1 (written before care timeouts: the default timeout).
    for ((field, fmt, timeout) in listOf(Triple("payload_hex", 2, "care_timeout_ms"), Triple("payload_v1_hex", 1, "care_timeout_ms_v1"))) {
        val p = openPayload(hex(d[field] as String), hex(d["public_key_hex"] as String), (d["now_ms"] as Long).toULong())
        check(p.campaign == c["id"] && p.revision == (c["revision"] as Long).toUInt(), "payload $p")
        check(p.issuedAtMs == (c["issued_at_ms"] as Long).toULong() && p.validUntilMs == (c["valid_until_ms"] as Long).toULong(), "times $p")
        check(p.settingUris == c["setting_uris"], "uris $p")
        check(p.format.toInt() == fmt && p.careTimeoutMs == (c[timeout] as Long).toULong(), "format $field $p")
    }
    val w = d["report"] as Map<String, Any?>
    val key = deriveDeviceKey(hex(d["master_hex"] as String), w["device"] as String)
    check(key.joinToString("") { "%02x".format(it) } == d["device_key_hex"], "device key")
    val r = decodeReport(hex(d["report_hex"] as String), key)
    check(r.campaign == w["campaign"] && r.device == w["device"] && r.attempt == (w["attempt"] as Long).toUInt(), "report $r")
    check(r.evaluatedAtMs == (w["evaluated_at_ms"] as Long).toULong() && r.kind == w["kind"], "report $r")
    check(r.failedSettings.map { it.toLong() } == w["failed_settings"], "failed settings $r")
}

fun fallback() {
    val server = ServerHost.open(null, MASTER)
    val cid = server.createCampaign(CAMPAIGN.replace("sample_success = \"0%\"", "sample_success = \"20%\""), 50UL, T0)
    val fleet = (0 until 50).map { "dev-%04d".format(it) }
    server.setSampledTargets(cid, server.sample(cid, fleet).sampled, T0)
    try {
        server.setCoverageFloor(cid, 1.5, FallbackPolicy.None, T0)
        throw AssertionError("a floor above 1 was taken")
    } catch (e: DevcareException.Refused) {
        check(e.reason == "fallback", "reason ${e.reason}")
    }
    server.setCoverageFloor(cid, 0.99, FallbackPolicy.Unicast(3u), T0)
    server.buildPayload(cid, SEED, T0 + 6UL * 60UL * MIN, T0)
    val wake = server.tick(T0 + MIN)!!
    server.tick(wake)
    val due = server.fallbackDue(cid, wake)
    check(due == FallbackAction.Unicast(3UL), "due $due")
    check(server.fallbackUnicast(cid, fleet.reversed(), wake) == fleet.take(3), "the three smallest silent ids")
    check(server.fallbackDue(cid, wake) == FallbackAction.Wait(wake + MIN), "then wait a minute")
}

fun dmPackage() {
    val server = ServerHost.open(null, MASTER)
    val cid = server.createCampaign(CAMPAIGN, 10UL, T0)
    val payload = server.buildPayload(cid, SEED, T0 + 60UL * MIN, T0)
    val me = "dev-0005"
    val agent = DeviceHost.open(null, me, listOf(), publicKey(SEED), deriveDeviceKey(MASTER, me))
    agent.receivePayload(payload, T0, Tree("./Proxy/Port"))
    val slot = agent.tick(T0 + 5UL * MIN)!!
    val due = agent.nextReportItems(slot, ItemFormat.B64)!!
    check(due.campaign == cid && due.items.size == 1 && due.items[0].format == "b64", "items $due")
    val items = due.items.joinToString("") {
        "<Item><Source><LocURI>${it.source}</LocURI></Source><Meta><Type xmlns=\"syncml:metinf\">${it.metaType}</Type>" +
            "<Format xmlns=\"syncml:metinf\">${it.format}</Format></Meta><Data>${it.data}</Data></Item>"
    }
    val fota = "<Alert><CmdID>2</CmdID><Data>1226</Data><Item><Meta><Type xmlns=\"syncml:metinf\">" +
        "org.openmobilealliance.dm.firmwareupdate.download</Type></Meta><Data>402</Data></Item></Alert>"
    val xml = "<SyncML><SyncBody><Alert><CmdID>1</CmdID><Data>1226</Data>$items</Alert>$fota<Final/></SyncBody></SyncML>"
    agent.reportSent(due.campaign, due.attempt, slot)
    val got = server.ingestPackage(xml.toByteArray(), me, slot, 2u)
    check(got.alerts.size == 2 && got.encoding == MessageEncoding.XML, "package $got")
    val ours = got.alerts[0].result!!
    check(ours.outcome is IngestOutcome.Accepted && ours.dmStatus.toInt() == 200, "ours $ours")
    check(got.alerts[1].result == null && got.alerts[1].items[0].data == "402", "the firmware alert untouched")
    check(String(got.statuses).contains("<CmdRef>1</CmdRef>"), "the Status answers CmdID 1")
    check(agent.reportStatus(due.campaign, due.attempt, ours.dmStatus, slot) == ReportAnswer.ACKNOWLEDGED, "acknowledged")
    val twin = DeviceHost.open(null, me, listOf(), publicKey(SEED), deriveDeviceKey(MASTER, me))
    twin.receivePayload(payload, T0, Tree("./Proxy/Port"))
    twin.tick(T0 + 5UL * MIN)
    val pkg = twin.nextReportPackage(slot, "4F", 1u, "https://dm.example", ItemFormat.CHR, MessageEncoding.WBXML)!!
    val again = server.ingestPackage(pkg.bytes, me, slot, 2u)
    check(again.encoding == MessageEncoding.WBXML && again.alerts[0].result!!.outcome is IngestOutcome.Duplicate, "wbxml $again")
    try {
        server.ingestPackage(pkg.bytes.copyOf(pkg.bytes.size / 2), me, slot, 2u)
        throw AssertionError("a cut WBXML message was taken")
    } catch (e: DevcareException.Refused) {
        check(e.reason == "malformed-wbxml", "reason ${e.reason}")
    }
}

fun main() {
    test("fleet_of_200_only_failures_report_and_care_converges") { fleet() }
    test("forged_payload_raises_refused") { forged() }
    test("slot_function_matches_the_shared_vectors") { vectors() }
    test("wire_vectors_decode_to_the_stated_values") { wireVectors() }
    test("group_campaign_revision_check_in_and_pause") { lifecycle() }
    test("degraded_broadcast_paces_unicast_batches") { fallback() }
    test("a_dm_toolkit_package_is_answered_per_alert") { dmPackage() }
    println("$passed passed, 0 failed")
}
