/* Lifecycle flows a DM stack and server run outside the happy path, through the C API:
 * a group campaign (members report and get care, others refuse the payload), a check-in
 * from a device that missed the broadcast, an operator pause and resume, revision 2
 * mid-window, and care that times out, is retried and escalated. */
#include "common.h"

static const char *BETA[] = {"beta"};
static const char *ALPHA_GAMMA[] = {"alpha", "gamma"};

static devcare_device *open_device(const char *id, const char **groups, size_t n) {
  uint8_t pk[32], key[32];
  CHECK(devcare_public_key(SIGNING_SEED, pk));
  CHECK(devcare_derive_device_key(MASTER, id, key));
  devcare_device *dev = NULL;
  CHECK(devcare_device_open(NULL, id, groups, n, pk, key, &dev));
  return dev;
}

int main(void) {
  devcare_server *srv = NULL;
  CHECK(devcare_server_open(NULL, MASTER, &srv));
  char toml[4096], campaign[65];
  snprintf(toml, sizeof toml, CAMPAIGN_TOML, "targets = { groups = [\"beta\"] }");
  CHECK(devcare_server_create_campaign(srv, toml, strlen(toml), 3, T0, campaign, sizeof campaign));
  /* The server's directory: IMEI:1 and IMEI:3 are in beta, IMEI:2 is not. */
  CHECK(devcare_server_set_device_groups(srv, "IMEI:1", BETA, 1));
  CHECK(devcare_server_set_device_groups(srv, "IMEI:2", ALPHA_GAMMA, 2));
  CHECK(devcare_server_set_device_groups(srv, "IMEI:3", BETA, 1));
  uint8_t payload[4096];
  size_t len = 0;
  CHECK(devcare_server_build_payload(srv, campaign, SIGNING_SEED, T0 + 24 * 60 * MIN, T0, payload,
                                     sizeof payload, &len));

  /* A member whose Proxy/Port fails reports, and the server accepts it (not 403). */
  devcare_device *member = open_device("IMEI:1", BETA, 1);
  struct dm_tree tree = {.fail_uri = "./Proxy/Port"};
  CHECK(devcare_device_receive(member, payload, len, T0, tree_apply, &tree));
  uint64_t slot = 0;
  CHECK(devcare_device_tick(member, T0 + 5 * MIN, &slot));
  uint8_t rep[1024];
  size_t n = 0;
  char rc[65];
  uint32_t attempt = 0;
  CHECK(devcare_device_next_report(member, slot, rep, sizeof rep, &n, rc, sizeof rc, &attempt));
  CHECK(devcare_device_report_sent(member, rc, attempt, slot));
  devcare_ingest outcome;
  devcare_result reason;
  uint16_t status = 0;
  CHECK(devcare_server_ingest_report(srv, rep, n, slot, &outcome, &reason, &status));
  ASSERT(outcome == DEVCARE_INGEST_ACCEPTED && status == 200);
  CHECK(devcare_device_report_acknowledged(member, rc, attempt, slot));
  uint64_t reported = slot;

  /* A device outside the group ignores the payload. */
  devcare_device *outsider = open_device("IMEI:2", ALPHA_GAMMA, 2);
  struct dm_tree untouched = {0};
  EXPECT(devcare_device_receive(outsider, payload, len, T0, tree_apply, &untouched), DEVCARE_NOT_TARGETED);
  ASSERT(untouched.applied == 0);
  char cid[65];
  uint32_t rev = 99;
  EXPECT(devcare_device_checkin(outsider, 0, cid, sizeof cid, &rev), DEVCARE_NOTHING_DUE);

  /* A healthy member states revision 1 when it checks in: nothing to do. */
  devcare_device *healthy = open_device("IMEI:3", BETA, 1);
  struct dm_tree ok_tree = {0};
  CHECK(devcare_device_receive(healthy, payload, len, T0, tree_apply, &ok_tree));
  CHECK(devcare_device_tick(healthy, T0 + 5 * MIN, &slot));
  CHECK(devcare_device_checkin(healthy, 0, cid, sizeof cid, &rev));
  ASSERT(strcmp(cid, campaign) == 0 && rev == 1);
  bool opened = true;
  CHECK(devcare_server_check_in(srv, cid, "IMEI:3", rev, T0 + 10 * MIN, &opened));
  ASSERT(!opened);
  /* IMEI:4 missed the broadcast; until the directory knows its groups it is no target. */
  EXPECT(devcare_server_check_in(srv, campaign, "IMEI:4", 0, T0 + 10 * MIN, &opened), DEVCARE_NOT_TARGETED);
  CHECK(devcare_server_set_device_groups(srv, "IMEI:4", BETA, 1));
  CHECK(devcare_server_check_in(srv, campaign, "IMEI:4", 0, T0 + 10 * MIN, &opened));
  ASSERT(opened);

  /* An operator pauses care: nothing is dispatched; resuming releases both orders. */
  uint64_t now = reported + MIN;
  CHECK(devcare_server_pause(srv, campaign, now));
  EXPECT(devcare_server_pause(srv, campaign, now), DEVCARE_ALREADY_PAUSED);
  devcare_care_order order;
  uint32_t idx[256];
  EXPECT(devcare_server_next_care(srv, now, &order, idx, 256), DEVCARE_NOTHING_DUE);
  devcare_stats st;
  CHECK(devcare_server_stats(srv, campaign, &st));
  ASSERT(st.paused && st.operator_paused && !st.breaker_paused && st.breaker_since_ms == 0);
  ASSERT(st.failure_reports == 1 && st.checkins_behind == 1);
  /* The abort threshold has not paused it: nothing to override (who and why checked first). */
  EXPECT(devcare_server_override_abort(srv, campaign, "", "why", now), DEVCARE_OVERRIDE_UNEXPLAINED);
  EXPECT(devcare_server_override_abort(srv, campaign, "ops", "looked", now), DEVCARE_BREAKER_NOT_TRIPPED);
  EXPECT(devcare_server_override_abort(srv, campaign, NULL, "looked", now), DEVCARE_NULL_ARGUMENT);
  CHECK(devcare_server_resume(srv, campaign, now));
  EXPECT(devcare_server_resume(srv, campaign, now), DEVCARE_NOT_PAUSED);
  int orders = 0;
  devcare_result r;
  while ((r = devcare_server_next_care(srv, now, &order, idx, 256)) == DEVCARE_OK) {
    orders++;
    if (strcmp(order.device, "IMEI:1") == 0) {
      ASSERT(order.settings_count == 1 && idx[0] == 2);
      bool recovered = false;
      CHECK(devcare_device_receive_care(member, order.campaign, order.revision, order.attempt, idx, order.settings_count, now,
                                        tree_apply, &ok_tree, &recovered));
      ASSERT(recovered);
    } else {
      ASSERT(strcmp(order.device, "IMEI:4") == 0 && order.settings_count == 4);
    }
    CHECK(devcare_server_care_outcome(srv, order.campaign, order.device, order.attempt, true, now));
  }
  EXPECT(r, DEVCARE_NOTHING_DUE);
  ASSERT(orders == 2);
  CHECK(devcare_device_checkin(member, 0, cid, sizeof cid, &rev));
  ASSERT(rev == 1); /* recovered by care: revision 1 applied */
  CHECK(devcare_server_stats(srv, campaign, &st));
  ASSERT(!st.paused && st.recovered == 2 && st.in_care == 0);

  /* A relapse: something reverts ./Proxy/Port on the recovered member. The host reads the
   * settings back; the device reports again at its slot, the server opens a new cycle, care
   * fixes it again (the device's own verdict is the outcome), and the counts stay per device. */
  uint16_t statuses[4] = {200, 200, 200, 200};
  uint8_t verify[4] = {DEVCARE_VERIFY_MATCH, DEVCARE_VERIFY_MATCH, DEVCARE_VERIFY_MATCH, DEVCARE_VERIFY_NOT_CHECKED};
  bool relapsed = true;
  CHECK(devcare_device_recheck(member, campaign, statuses, verify, 4, now + 5 * MIN, &relapsed));
  ASSERT(!relapsed); /* still fine: nothing changes */
  statuses[2] = 404;
  CHECK(devcare_device_recheck(member, campaign, statuses, verify, 4, now + 10 * MIN, &relapsed));
  ASSERT(relapsed);
  EXPECT(devcare_device_recheck(member, campaign, statuses, verify, 4, now + 10 * MIN, &relapsed), DEVCARE_WRONG_PHASE);
  verify[0] = 7;
  EXPECT(devcare_device_recheck(healthy, campaign, statuses, verify, 4, now, &relapsed), DEVCARE_INVALID_ARGUMENT);
  EXPECT(devcare_device_recheck(member, campaign, NULL, NULL, 4, now, &relapsed), DEVCARE_NULL_ARGUMENT);
  CHECK(devcare_device_tick(member, now + 10 * MIN, &slot));
  ASSERT(slot >= now + 10 * MIN);
  CHECK(devcare_device_next_report(member, slot, rep, sizeof rep, &n, rc, sizeof rc, &attempt));
  ASSERT(attempt == 2); /* a new idempotency key */
  CHECK(devcare_device_report_sent(member, rc, attempt, slot));
  CHECK(devcare_server_ingest_report(srv, rep, n, slot, &outcome, &reason, &status));
  ASSERT(outcome == DEVCARE_INGEST_ACCEPTED && status == 200);
  CHECK(devcare_device_report_acknowledged(member, rc, attempt, slot));
  now = slot;
  CHECK(devcare_server_next_care(srv, now, &order, idx, 256));
  ASSERT(strcmp(order.device, "IMEI:1") == 0 && order.attempt == 1 && order.settings_count == 1 && idx[0] == 2);
  bool fixed_again = false;
  CHECK(devcare_device_receive_care(member, order.campaign, order.revision, order.attempt, idx, order.settings_count, now,
                                    tree_apply, &ok_tree, &fixed_again));
  ASSERT(fixed_again);
  CHECK(devcare_server_care_outcome(srv, order.campaign, order.device, order.attempt, fixed_again, now));
  CHECK(devcare_server_stats(srv, campaign, &st));
  ASSERT(st.failure_reports == 2 && st.recovered == 2 && st.in_care == 0 && st.presumed_ok == 1);

  /* Revision 2 mid-window: revision 1's reports are refused with 410 (stop retrying), the
   * member takes revision 2 on and checks in with it. */
  char *line = strstr(toml, "revision = 1");
  ASSERT(line != NULL);
  line[strlen("revision = ")] = '2';
  CHECK(devcare_server_revise_campaign(srv, toml, strlen(toml), 3, now));
  EXPECT(devcare_server_revise_campaign(srv, toml, strlen(toml), 3, now), DEVCARE_REVISION_NOT_NEWER);
  CHECK(devcare_server_ingest_report(srv, rep, n, now, &outcome, &reason, &status));
  ASSERT(outcome == DEVCARE_INGEST_REJECTED && reason == DEVCARE_WRONG_REVISION && status == 410);
  /* Only a 4xx (but 408 and 429) is a definitive refusal; the member was done anyway. */
  EXPECT(devcare_device_report_refused(member, campaign, 1, 500, now), DEVCARE_NOT_A_REFUSAL);
  EXPECT(devcare_device_report_refused(member, NULL, 1, 410, now), DEVCARE_NULL_ARGUMENT);
  CHECK(devcare_server_build_payload(srv, campaign, SIGNING_SEED, T0 + 24 * 60 * MIN, now, payload,
                                     sizeof payload, &len));
  struct dm_tree rev2_tree = {0};
  CHECK(devcare_device_receive(member, payload, len, now, tree_apply, &rev2_tree));
  ASSERT(rev2_tree.applied == 4);
  CHECK(devcare_device_tick(member, now + 5 * MIN, &slot));
  ASSERT(slot == 0); /* healthy on revision 2 */
  CHECK(devcare_device_checkin(member, 0, cid, sizeof cid, &rev));
  ASSERT(rev == 2);
  CHECK(devcare_server_stats(srv, campaign, &st));
  ASSERT(st.failure_reports == 0 && st.recovered == 0); /* statistics are per revision */

  /* Care that is never answered: IMEI:4 is behind revision 2 and offline. Each order is in
   * flight until the care timeout (1 h by default), then counts as a failed attempt and the
   * next is due 10 min later; after the third, the device is escalated. */
  CHECK(devcare_server_check_in(srv, campaign, "IMEI:4", 0, now, &opened));
  ASSERT(opened);
  char who[65];
  uint64_t expires = 0, wake = 0;
  uint32_t in_flight_attempt = 0;
  EXPECT(devcare_server_care_in_flight(srv, campaign, 0, who, sizeof who, &in_flight_attempt, &expires), DEVCARE_NOTHING_DUE);
  for (uint32_t a = 1; a <= 3; a++) {
    CHECK(devcare_server_next_care(srv, now, &order, idx, 256));
    ASSERT(strcmp(order.device, "IMEI:4") == 0 && order.attempt == a);
    CHECK(devcare_server_care_in_flight(srv, campaign, 0, who, sizeof who, &in_flight_attempt, &expires));
    ASSERT(strcmp(who, "IMEI:4") == 0 && in_flight_attempt == a && expires == now + 60 * MIN);
    EXPECT(devcare_server_care_in_flight(srv, campaign, 1, who, sizeof who, &in_flight_attempt, &expires), DEVCARE_NOTHING_DUE);
    CHECK(devcare_server_tick(srv, expires - 1, &wake));
    ASSERT(wake == expires); /* the host is woken for the timeout */
    CHECK(devcare_server_tick(srv, expires, &wake));
    now = expires + 10 * MIN;
  }
  CHECK(devcare_server_stats(srv, campaign, &st));
  ASSERT(st.care_timed_out == 3 && st.care_dispatched == 3 && st.escalated == 1 && st.in_care == 0);
  EXPECT(devcare_server_care_in_flight(srv, campaign, 0, who, sizeof who, &in_flight_attempt, &expires), DEVCARE_NOTHING_DUE);
  EXPECT(devcare_server_care_in_flight(srv, "nope", 0, who, sizeof who, &in_flight_attempt, &expires), DEVCARE_UNKNOWN_CAMPAIGN);
  EXPECT(devcare_server_care_in_flight(srv, campaign, 0, NULL, 0, &in_flight_attempt, &expires), DEVCARE_NULL_ARGUMENT);

  /* The success sample: with sampling off nobody is sampled; a size beyond the targets
   * is refused. */
  bool sampled = true, silent = true;
  CHECK(devcare_server_sample_status(srv, campaign, "IMEI:1", &sampled, &silent));
  ASSERT(!sampled && !silent);
  CHECK(devcare_server_set_sampled_targets(srv, campaign, 0, now));
  EXPECT(devcare_server_set_sampled_targets(srv, campaign, 4, now), DEVCARE_SAMPLE_SIZE);
  EXPECT(devcare_server_sample_status(srv, campaign, "IMEI:1", NULL, &silent), DEVCARE_NULL_ARGUMENT);
  CHECK(devcare_server_stats(srv, campaign, &st));
  ASSERT(!st.has_coverage && !st.coverage_known_sample);

  /* Key rotation: the member trusts a second server key, then drops the first; a payload
   * signed with the dropped key is refused, one signed with the new key is taken. */
  uint8_t seed2[32], pk1[32], pk2[32], kid1[8], kid2[8];
  memset(seed2, 9, sizeof seed2);
  CHECK(devcare_public_key(SIGNING_SEED, pk1));
  CHECK(devcare_public_key(seed2, pk2));
  CHECK(devcare_device_add_trusted_key(member, pk2, kid2));
  CHECK(devcare_device_add_trusted_key(member, pk1, kid1)); /* already trusted: its id */
  CHECK(devcare_device_remove_trusted_key(member, kid1));
  EXPECT(devcare_device_remove_trusted_key(member, kid1), DEVCARE_NOTHING_DUE);
  EXPECT(devcare_device_remove_trusted_key(member, kid2), DEVCARE_INVALID_ARGUMENT); /* the last one */
  line[strlen("revision = ")] = '3';
  CHECK(devcare_server_revise_campaign(srv, toml, strlen(toml), 3, now));
  CHECK(devcare_server_build_payload(srv, campaign, SIGNING_SEED, T0 + 24 * 60 * MIN, now, payload, sizeof payload, &len));
  EXPECT(devcare_device_receive(member, payload, len, now, tree_apply, &ok_tree), DEVCARE_PAYLOAD_UNKNOWN_KEY);
  CHECK(devcare_server_build_payload(srv, campaign, seed2, T0 + 24 * 60 * MIN, now, payload, sizeof payload, &len));
  CHECK(devcare_device_receive(member, payload, len, now, tree_apply, &ok_tree));
  /* The server takes reports under a second master while devices are re-provisioned. */
  uint8_t master2[32];
  memset(master2, 8, sizeof master2);
  CHECK(devcare_server_add_master_key(srv, master2));
  CHECK(devcare_server_remove_master_key(srv, MASTER));
  EXPECT(devcare_server_remove_master_key(srv, master2), DEVCARE_NOTHING_DUE); /* the last one stays */
  EXPECT(devcare_server_add_master_key(srv, NULL), DEVCARE_NULL_ARGUMENT);

  /* Misuse of the new arguments. */
  const char *bad[] = {"beta", NULL};
  const char *empty[] = {""};
  devcare_device *d = NULL;
  uint8_t pk[32] = {0}, key[32] = {0};
  CHECK(devcare_public_key(SIGNING_SEED, pk));
  EXPECT(devcare_device_open(NULL, "IMEI:5", NULL, 2, pk, key, &d), DEVCARE_NULL_ARGUMENT);
  EXPECT(devcare_device_open(NULL, "IMEI:5", bad, 2, pk, key, &d), DEVCARE_NULL_ARGUMENT);
  EXPECT(devcare_device_open(NULL, "IMEI:5", empty, 1, pk, key, &d), DEVCARE_INVALID_ARGUMENT);
  ASSERT(d == NULL);
  EXPECT(devcare_server_set_device_groups(srv, "IMEI:5", bad, 2), DEVCARE_NULL_ARGUMENT);
  EXPECT(devcare_server_pause(srv, "nope", now), DEVCARE_UNKNOWN_CAMPAIGN);
  EXPECT(devcare_server_check_in(srv, campaign, "IMEI:4", 0, now, NULL), DEVCARE_NULL_ARGUMENT);
  EXPECT(devcare_device_checkin(member, 0, NULL, 0, &rev), DEVCARE_NULL_ARGUMENT);
  /* Nothing given up unheard: no report rides on a check-in. */
  {
    uint8_t rb[512];
    size_t rlen = 0;
    uint32_t attempt = 0;
    EXPECT(devcare_device_checkin_report(member, 0, rb, sizeof rb, &rlen, cid, sizeof cid, &attempt),
           DEVCARE_NOTHING_DUE);
    EXPECT(devcare_device_checkin_report(member, 0, rb, sizeof rb, NULL, cid, sizeof cid, &attempt),
           DEVCARE_NULL_ARGUMENT);
    EXPECT(devcare_device_checkin_report(NULL, 0, rb, sizeof rb, &rlen, cid, sizeof cid, &attempt),
           DEVCARE_NULL_ARGUMENT);
  }

  devcare_device_free(member);
  devcare_device_free(outsider);
  devcare_device_free(healthy);
  devcare_server_free(srv);
  printf("lifecycle: ok\n");
  return 0;
}
