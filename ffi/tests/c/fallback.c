/* The coverage fallback through the C API: a server whose broadcast reached no sampled
 * device finds it degraded at the early check, and hands the host paced unicast batches of
 * the silent targets, smallest ids first, then asks it to wait for the next minute. */
#include "common.h"

static const char *TOML =
    "id = \"apn-fb\"\n"
    "revision = 1\n"
    "issued_at = 2026-05-28T20:26:40Z\n"
    "salt = \"000102030405060708090a0b0c0d0e0f\"\n"
    "targets = { all = true }\n"
    "[[settings]]\nop = \"replace\"\nuri = \"./AP/Default/APN\"\nvalue = \"internet.example\"\n"
    "[schedule]\nevaluate_after = \"5m\"\nsample_success = \"50%\"\n"
    "[schedule.report]\noffset = \"1m\"\nwindow = \"1h\"\ndeadline = \"6h\"\n";

#define FLEET 20

int main(void) {
  devcare_server *srv = NULL;
  CHECK(devcare_server_open(NULL, MASTER, &srv));
  char campaign[65];
  CHECK(devcare_server_create_campaign(srv, TOML, strlen(TOML), FLEET, T0, campaign, sizeof campaign));

  /* The directory, listed in descending order: the batches still come smallest first. */
  char ids[FLEET][16];
  const char *dir[FLEET];
  uint64_t sampled_n = 0;
  for (int i = 0; i < FLEET; i++) {
    snprintf(ids[i], sizeof ids[i], "IMEI:%02d", FLEET - 1 - i);
    dir[i] = ids[i];
    bool sampled = false, silent = false;
    CHECK(devcare_server_sample_status(srv, campaign, dir[i], &sampled, &silent));
    sampled_n += sampled;
  }
  ASSERT(sampled_n > 0);
  CHECK(devcare_server_set_sampled_targets(srv, campaign, sampled_n, T0));

  /* Bad policies are refused and change nothing. */
  EXPECT(devcare_server_set_coverage_floor(srv, campaign, 1.5, DEVCARE_FALLBACK_NONE, 0, T0), DEVCARE_FALLBACK);
  EXPECT(devcare_server_set_coverage_floor(srv, campaign, 0.99, DEVCARE_FALLBACK_UNICAST, 0, T0), DEVCARE_FALLBACK);
  EXPECT(devcare_server_set_coverage_floor(srv, campaign, 0.99, 7, 2, T0), DEVCARE_INVALID_ARGUMENT);
  EXPECT(devcare_server_set_coverage_floor(srv, NULL, 0.99, DEVCARE_FALLBACK_NONE, 0, T0), DEVCARE_NULL_ARGUMENT);
  CHECK(devcare_server_set_coverage_floor(srv, campaign, 0.99, DEVCARE_FALLBACK_UNICAST, 2, T0));

  uint8_t payload[4096];
  size_t len = 0;
  CHECK(devcare_server_build_payload(srv, campaign, SIGNING_SEED, T0 + 6 * 60 * MIN, T0, payload,
                                     sizeof payload, &len));
  uint32_t action = 99;
  uint64_t allowance = 99, at = 99;
  CHECK(devcare_server_fallback_due(srv, campaign, T0, &action, &allowance, &at));
  ASSERT(action == DEVCARE_FALLBACK_DUE_NOTHING && allowance == 0 && at == 0);

  /* No sampled device probed by the time every report is in: degraded. The tick wakes the
   * host for that check. */
  uint64_t wake = 0;
  CHECK(devcare_server_tick(srv, T0 + MIN, &wake));
  ASSERT(wake > T0 + 60 * MIN && wake < T0 + 6 * 60 * MIN);
  CHECK(devcare_server_tick(srv, wake, NULL));
  CHECK(devcare_server_fallback_due(srv, campaign, wake, &action, &allowance, &at));
  ASSERT(action == DEVCARE_FALLBACK_DUE_UNICAST && allowance == 2);
  EXPECT(devcare_server_record_rebroadcast(srv, campaign, wake), DEVCARE_FALLBACK);

  bool picked[FLEET];
  size_t count = 99;
  EXPECT(devcare_server_fallback_unicast(srv, campaign, dir, FLEET, wake, NULL, &count), DEVCARE_NULL_ARGUMENT);
  EXPECT(devcare_server_fallback_unicast(srv, campaign, dir, FLEET, wake, picked, NULL), DEVCARE_NULL_ARGUMENT);
  CHECK(devcare_server_fallback_unicast(srv, campaign, dir, FLEET, wake, picked, &count));
  ASSERT(count == 2);
  for (int i = 0; i < FLEET; i++) {
    /* dir is descending: the two smallest ids are its last two entries. */
    ASSERT(picked[i] == (i >= FLEET - 2));
  }
  /* The pace is spent: wait for the next minute; a batch now picks nothing. */
  CHECK(devcare_server_fallback_due(srv, campaign, wake, &action, &allowance, &at));
  ASSERT(action == DEVCARE_FALLBACK_DUE_WAIT && at == wake + MIN);
  CHECK(devcare_server_fallback_unicast(srv, campaign, dir, FLEET, wake, picked, &count));
  ASSERT(count == 0);
  CHECK(devcare_server_fallback_unicast(srv, campaign, dir, FLEET, wake + MIN, picked, &count));
  ASSERT(count == 2 && picked[FLEET - 3] && picked[FLEET - 4] && !picked[FLEET - 1]);

  devcare_server_free(srv);

  /* A repair with the sample counted over the directory (count and slot bins) and a limit
   * on the targets wrongly presumed OK. */
  CHECK(devcare_server_open(NULL, MASTER, &srv));
  CHECK(devcare_server_create_campaign(srv, TOML, strlen(TOML), FLEET, T0, campaign, sizeof campaign));
  uint64_t recorded = 0;
  EXPECT(devcare_server_record_sample(srv, campaign, NULL, FLEET, T0, &recorded), DEVCARE_NULL_ARGUMENT);
  EXPECT(devcare_server_record_sample(srv, campaign, dir, FLEET, T0, NULL), DEVCARE_NULL_ARGUMENT);
  CHECK(devcare_server_record_sample(srv, campaign, dir, FLEET, T0, &recorded));
  ASSERT(recorded == sampled_n);
  CHECK(devcare_server_set_settlement_limit(srv, campaign, true, 0, T0));
  CHECK(devcare_server_set_coverage_floor(srv, campaign, 0.99, DEVCARE_FALLBACK_REPAIR, 5, T0));
  CHECK(devcare_server_build_payload(srv, campaign, SIGNING_SEED, T0 + 6 * 60 * MIN, T0, payload,
                                     sizeof payload, &len));
  CHECK(devcare_server_tick(srv, T0 + MIN, &wake));
  CHECK(devcare_server_tick(srv, wake, NULL));
  /* The pilot: every silent target of so small a fleet, five a minute. */
  CHECK(devcare_server_fallback_due(srv, campaign, wake, &action, &allowance, &at));
  ASSERT(action == DEVCARE_FALLBACK_DUE_UNICAST && allowance == 5);
  uint64_t t = wake;
  for (int batch = 0; batch < 4; batch++, t += MIN) {
    CHECK(devcare_server_fallback_unicast(srv, campaign, dir, FLEET, t, picked, &count));
    ASSERT(count == 5);
  }
  /* Then it waits for the answers; none came behind: nothing more to poll. */
  CHECK(devcare_server_fallback_due(srv, campaign, t, &action, &allowance, &at));
  ASSERT(action == DEVCARE_FALLBACK_DUE_WAIT && at == t - MIN + 15 * MIN);
  CHECK(devcare_server_fallback_due(srv, campaign, at, &action, &allowance, &at));
  ASSERT(action == DEVCARE_FALLBACK_DUE_NOTHING);
  /* At the deadline the bound is above the limit of 0: settlement is held back. */
  devcare_stats st;
  CHECK(devcare_server_tick(srv, T0 + 6 * 60 * MIN, NULL));
  CHECK(devcare_server_stats(srv, campaign, &st));
  ASSERT(st.has_presumed_bound && st.presumed_missed_hi > 0);
  ASSERT(st.settlement_held && !st.settled);
  CHECK(devcare_server_set_settlement_limit(srv, campaign, false, 0, T0 + 6 * 60 * MIN));
  CHECK(devcare_server_tick(srv, T0 + 7 * 60 * MIN, NULL));
  CHECK(devcare_server_stats(srv, campaign, &st));
  ASSERT(st.settled && !st.settlement_held);
  devcare_server_free(srv);
  printf("fallback: ok\n");
  return 0;
}
