/* Per-group abort thresholds through the C API: a failure in the "bad" group trips that
 * group's own threshold and holds its care, while the "good" group's care goes on; an
 * explained override releases it. */
#include "common.h"

static const char *BAD[] = {"bad"};
static const char *GOOD[] = {"good"};

/* Device `id` in `groups` receives the payload with `./Proxy/Port` failing, reports, and
 * the server takes the report. */
static void fail_and_report(devcare_server *srv, const char *id, const char **groups, const uint8_t *payload,
                            size_t len) {
  uint8_t pk[32], key[32];
  CHECK(devcare_public_key(SIGNING_SEED, pk));
  CHECK(devcare_derive_device_key(MASTER, id, key));
  devcare_device *dev = NULL;
  CHECK(devcare_device_open(NULL, id, groups, 1, pk, key, &dev));
  struct dm_tree tree = {.fail_uri = "./Proxy/Port"};
  CHECK(devcare_device_receive(dev, payload, len, T0, tree_apply, &tree));
  uint64_t slot = 0;
  CHECK(devcare_device_tick(dev, T0 + 5 * MIN, &slot));
  uint8_t rep[1024];
  size_t n = 0;
  char rc[65];
  uint32_t attempt = 0;
  CHECK(devcare_device_next_report(dev, slot, rep, sizeof rep, &n, rc, sizeof rc, &attempt));
  devcare_ingest outcome;
  devcare_result reason;
  uint16_t status = 0;
  CHECK(devcare_server_ingest_report(srv, rep, n, T0 + 90 * MIN, &outcome, &reason, &status));
  ASSERT(outcome == DEVCARE_INGEST_ACCEPTED && status == 200);
  devcare_device_free(dev);
}

int main(void) {
  devcare_server *srv = NULL;
  CHECK(devcare_server_open(NULL, MASTER, &srv));
  char toml[4096], campaign[65];
  snprintf(toml, sizeof toml, CAMPAIGN_TOML, "targets = { all = true }");
  CHECK(devcare_server_create_campaign(srv, toml, strlen(toml), 4, T0, campaign, sizeof campaign));
  CHECK(devcare_server_set_device_groups(srv, "IMEI:1", BAD, 1));
  CHECK(devcare_server_set_device_groups(srv, "IMEI:2", GOOD, 1));

  /* Bad thresholds are refused and change nothing. */
  EXPECT(devcare_server_set_group_breaker(srv, campaign, "bad", 1.5, 1, 2, T0), DEVCARE_GROUP_BREAKER);
  EXPECT(devcare_server_set_group_breaker(srv, campaign, "bad", 0.05, 0, 2, T0), DEVCARE_GROUP_BREAKER);
  EXPECT(devcare_server_set_group_breaker(srv, campaign, "bad", 0.05, 1, 0, T0), DEVCARE_GROUP_BREAKER);
  EXPECT(devcare_server_set_group_breaker(srv, campaign, NULL, 0.05, 1, 2, T0), DEVCARE_NULL_ARGUMENT);
  EXPECT(devcare_server_set_group_breaker(srv, "nope", "bad", 0.05, 1, 2, T0), DEVCARE_UNKNOWN_CAMPAIGN);
  devcare_group_status g;
  EXPECT(devcare_server_group_status(srv, campaign, "bad", &g), DEVCARE_GROUP_BREAKER);
  CHECK(devcare_server_set_group_breaker(srv, campaign, "bad", 0.05, 1, 2, T0));
  CHECK(devcare_server_set_group_breaker(srv, campaign, "good", 0.05, 5, 2, T0));
  EXPECT(devcare_server_group_status(srv, campaign, "bad", NULL), DEVCARE_NULL_ARGUMENT);
  CHECK(devcare_server_group_status(srv, campaign, "bad", &g));
  ASSERT(g.failures == 0 && !g.paused && g.failure_ratio == 0.05);

  uint8_t payload[4096];
  size_t len = 0;
  CHECK(devcare_server_build_payload(srv, campaign, SIGNING_SEED, T0 + 24 * 60 * MIN, T0, payload,
                                     sizeof payload, &len));
  fail_and_report(srv, "IMEI:1", BAD, payload, len);
  fail_and_report(srv, "IMEI:2", GOOD, payload, len);
  /* Too late to change the thresholds: failures were counted. */
  EXPECT(devcare_server_set_group_breaker(srv, campaign, "bad", 0.5, 1, 2, T0 + 90 * MIN), DEVCARE_GROUP_BREAKER);

  uint64_t now = T0 + 90 * MIN;
  CHECK(devcare_server_group_status(srv, campaign, "bad", &g));
  ASSERT(g.failures == 1 && g.paused && g.paused_since_ms == now && g.paused_failures == 1 && !g.overridden);
  CHECK(devcare_server_group_status(srv, campaign, "good", &g));
  ASSERT(g.failures == 1 && !g.paused);
  devcare_stats st;
  CHECK(devcare_server_stats(srv, campaign, &st));
  ASSERT(!st.paused && !st.breaker_paused); /* the campaign goes on */

  /* Only the good group's care is due. */
  devcare_care_order order;
  uint32_t idx[256];
  CHECK(devcare_server_next_care(srv, now, &order, idx, 256));
  ASSERT(strcmp(order.device, "IMEI:2") == 0);
  CHECK(devcare_server_care_outcome(srv, order.campaign, order.device, order.attempt, true, now));
  EXPECT(devcare_server_next_care(srv, now, &order, idx, 256), DEVCARE_NOTHING_DUE);

  /* Lifting it takes who and why, and only a paused group. */
  EXPECT(devcare_server_override_group_abort(srv, campaign, "bad", "", "x", now), DEVCARE_OVERRIDE_UNEXPLAINED);
  EXPECT(devcare_server_override_group_abort(srv, campaign, "good", "ops", "x", now), DEVCARE_GROUP_BREAKER);
  EXPECT(devcare_server_override_group_abort(srv, campaign, "bad", NULL, "x", now), DEVCARE_NULL_ARGUMENT);
  CHECK(devcare_server_override_group_abort(srv, campaign, "bad", "ops", "model X checked", now));
  CHECK(devcare_server_group_status(srv, campaign, "bad", &g));
  ASSERT(!g.paused && g.overridden);
  CHECK(devcare_server_next_care(srv, now, &order, idx, 256));
  ASSERT(strcmp(order.device, "IMEI:1") == 0);

  devcare_server_free(srv);
  printf("groups: ok\n");
  return 0;
}
