/* A small handset DM stack using devcare: receives a broadcast payload, applies it to an
 * in-memory DM tree with one injected failure, and emits exactly one report at its slot;
 * with no failure it stays silent; a reboot (close and reopen the sled store) before the
 * slot still emits the report. Usage: device_stack SLED_DIR */
#include "common.h"

static devcare_server *server_with_campaign(char campaign[65], uint8_t *payload, size_t *len) {
  devcare_server *srv = NULL;
  CHECK(devcare_server_open(NULL, MASTER, &srv));
  char toml[4096];
  snprintf(toml, sizeof toml, CAMPAIGN_TOML, "targets = { all = true }");
  CHECK(devcare_server_create_campaign(srv, toml, strlen(toml), 1000, T0, campaign, 65));
  CHECK(devcare_server_build_payload(srv, campaign, SIGNING_SEED, T0 + 24 * 60 * MIN, T0, payload, 4096, len));
  return srv;
}

static devcare_device *open_device(const char *dir, const char *id) {
  uint8_t pk[32], key[32];
  CHECK(devcare_public_key(SIGNING_SEED, pk));
  CHECK(devcare_derive_device_key(MASTER, id, key));
  devcare_device *dev = NULL;
  CHECK(devcare_device_open(dir, id, NULL, 0, pk, key, &dev));
  return dev;
}

/* Ticks to evaluation; returns the report slot (0 = silent). */
static uint64_t evaluate(devcare_device *dev) {
  uint64_t wake = 0;
  CHECK(devcare_device_tick(dev, T0 + 5 * MIN, &wake));
  return wake;
}

/* Counts reports emitted from just before the slot to the end of the window. */
static int drain_reports(devcare_device *dev, devcare_server *srv, uint64_t slot) {
  uint8_t buf[1024];
  size_t len = 0;
  char campaign[65];
  uint32_t attempt = 0;
  int sent = 0;
  if (slot > 0) {
    EXPECT(devcare_device_next_report(dev, slot - 1, buf, sizeof buf, &len, campaign, sizeof campaign, &attempt),
           DEVCARE_NOTHING_DUE);
  }
  for (uint64_t t = (slot ? slot : T0); t <= T0 + 70 * MIN; t += MIN) {
    devcare_result r = devcare_device_next_report(dev, t, buf, sizeof buf, &len, campaign, sizeof campaign, &attempt);
    if (r == DEVCARE_NOTHING_DUE) continue;
    if (r != DEVCARE_OK) die("next_report", r);
    /* A campaign buffer too short: BUFFER_TOO_SMALL, and *len still says the report's size. */
    char short_id[2];
    size_t told = 0;
    EXPECT(devcare_device_next_report(dev, t, buf, sizeof buf, &told, short_id, sizeof short_id, &attempt),
           DEVCARE_BUFFER_TOO_SMALL);
    ASSERT(told == len);
    CHECK(devcare_device_report_sent(dev, campaign, attempt, t));
    devcare_ingest outcome;
    devcare_result reason;
    uint16_t status = 0;
    CHECK(devcare_server_ingest_report(srv, buf, len, t, &outcome, &reason, &status));
    ASSERT(outcome == DEVCARE_INGEST_ACCEPTED && status == 200);
    CHECK(devcare_device_report_acknowledged(dev, campaign, attempt, t));
    sent++;
  }
  return sent;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: device_stack SLED_DIR\n");
    return 2;
  }
  uint8_t payload[4096];
  size_t len = 0;
  char campaign[65];
  devcare_server *srv = server_with_campaign(campaign, payload, &len);

  /* 1. One injected failure: exactly one report, at the slot. */
  struct dm_tree tree = {.fail_uri = "./Proxy/Port"};
  devcare_device *dev = open_device(NULL, "IMEI:490154203237518");
  CHECK(devcare_device_receive(dev, payload, len, T0, tree_apply, &tree));
  ASSERT(tree.applied == 3 && tree.failed == 1);
  ASSERT(strcmp(tree.uris[0], "./AP/Default/APN") == 0);
  uint64_t slot = evaluate(dev);
  ASSERT(slot >= T0 + 6 * MIN && slot < T0 + 66 * MIN);
  int sent = drain_reports(dev, srv, slot);
  ASSERT(sent == 1);
  printf("failure: 1 report at slot +%llus\n", (unsigned long long)((slot - T0) / 1000));

  /* The server's care re-provisions the failed setting; the device applies it. */
  devcare_care_order order;
  uint32_t idx[256];
  CHECK(devcare_server_next_care(srv, slot, &order, idx, 256));
  ASSERT(strcmp(order.device, "IMEI:490154203237518") == 0 && order.settings_count == 1 && idx[0] == 2);
  struct dm_tree fixed = {.fail_uri = NULL};
  bool recovered = false;
  CHECK(devcare_device_receive_care(dev, order.campaign, order.revision, order.attempt, idx, order.settings_count, slot, tree_apply, &fixed, &recovered));
  ASSERT(fixed.applied == 1 && strcmp(fixed.uris[0], "./Proxy/Port") == 0);
  ASSERT(recovered); /* the device's own verdict is what the server is told */
  CHECK(devcare_server_care_outcome(srv, order.campaign, order.device, order.attempt, recovered, slot));
  devcare_device_free(dev);

  /* 2. No failure: silent. */
  struct dm_tree ok = {.fail_uri = NULL};
  dev = open_device(NULL, "IMEI:356938035643809");
  CHECK(devcare_device_receive(dev, payload, len, T0, tree_apply, &ok));
  ASSERT(ok.applied == 4);
  ASSERT(evaluate(dev) == 0);
  ASSERT(drain_reports(dev, srv, 0) == 0);
  printf("healthy: 0 reports\n");
  devcare_device_free(dev);

  /* 3. Reboot before the slot: the report survives in the sled log. */
  struct dm_tree t3 = {.fail_uri = "./AP/Default/Auth"};
  dev = open_device(argv[1], "IMEI:1");
  CHECK(devcare_device_receive(dev, payload, len, T0, tree_apply, &t3));
  slot = evaluate(dev);
  ASSERT(slot > 0);
  devcare_device_free(dev); /* power off */
  dev = open_device(argv[1], "IMEI:1");
  sent = drain_reports(dev, srv, slot);
  ASSERT(sent == 1);
  printf("reboot: 1 report at slot +%llus\n", (unsigned long long)((slot - T0) / 1000));
  devcare_device_free(dev);

  /* The same payload again is a stale revision: ignored. */
  dev = open_device(argv[1], "IMEI:1");
  EXPECT(devcare_device_receive(dev, payload, len, T0 + MIN, tree_apply, &t3), DEVCARE_STALE_REVISION);
  uint64_t refused = 0;
  CHECK(devcare_device_rejections(dev, &refused));
  ASSERT(refused == 1);
  devcare_device_free(dev);
  devcare_server_free(srv);
  printf("device_stack: ok\n");
  return 0;
}
