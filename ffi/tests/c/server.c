/* A DM server using devcare: creates a campaign for five listed devices, ingests reports
 * from three failed devices plus a duplicate, a forged report and one from a device that is
 * not a target, runs care to completion and prints the statistics. */
#include "common.h"

static const char *DEVICES[] = {"IMEI:1", "IMEI:2", "IMEI:3", "IMEI:4", "IMEI:5"};

static size_t report_from(const char *id, const char *fail_uri, const uint8_t *payload, size_t len,
                          uint8_t *out, uint64_t *at) {
  uint8_t pk[32], key[32];
  CHECK(devcare_public_key(SIGNING_SEED, pk));
  CHECK(devcare_derive_device_key(MASTER, id, key));
  devcare_device *dev = NULL;
  CHECK(devcare_device_open(NULL, id, NULL, 0, pk, key, &dev));
  struct dm_tree tree = {.fail_uri = fail_uri};
  devcare_result r = devcare_device_receive(dev, payload, len, T0, tree_apply, &tree);
  if (r != DEVCARE_OK) die("receive", r);
  uint64_t slot = 0;
  CHECK(devcare_device_tick(dev, T0 + 5 * MIN, &slot));
  ASSERT(slot > 0);
  size_t n = 0;
  char campaign[65];
  uint32_t attempt = 0;
  CHECK(devcare_device_next_report(dev, slot, out, 1024, &n, campaign, sizeof campaign, &attempt));
  CHECK(devcare_device_report_sent(dev, campaign, attempt, slot));
  devcare_device_free(dev);
  *at = slot;
  return n;
}

static void ingest(devcare_server *srv, const uint8_t *b, size_t n, uint64_t at, devcare_ingest want,
                   devcare_result want_reason, uint16_t want_status) {
  devcare_ingest outcome;
  devcare_result reason;
  uint16_t status = 0;
  CHECK(devcare_server_ingest_report(srv, b, n, at, &outcome, &reason, &status));
  if (outcome != want || reason != want_reason || status != want_status) {
    fprintf(stderr, "FAIL ingest: outcome %u reason %s status %u\n", (unsigned)outcome,
            devcare_result_name(reason), status);
    exit(1);
  }
}

int main(void) {
  devcare_server *srv = NULL;
  CHECK(devcare_server_open(NULL, MASTER, &srv));
  char toml[4096], targets[256];
  snprintf(targets, sizeof targets, "targets = { devices = [\"%s\", \"%s\", \"%s\", \"%s\", \"%s\"] }",
           DEVICES[0], DEVICES[1], DEVICES[2], DEVICES[3], DEVICES[4]);
  snprintf(toml, sizeof toml, CAMPAIGN_TOML, targets);
  char campaign[65];
  CHECK(devcare_server_create_campaign(srv, toml, strlen(toml), 0, T0, campaign, sizeof campaign));
  EXPECT(devcare_server_create_campaign(srv, toml, strlen(toml), 0, T0, campaign, sizeof campaign),
         DEVCARE_ALREADY_CREATED);
  uint8_t payload[4096];
  size_t len = 0;
  CHECK(devcare_server_build_payload(srv, campaign, SIGNING_SEED, T0 + 24 * 60 * MIN, T0, payload, sizeof payload, &len));

  uint8_t rep[3][1024];
  size_t n[3];
  uint64_t at[3], last = 0;
  const char *fails[3] = {"./Proxy/Port", "./AP/Default/APN", "./Vendor/Reload"};
  for (int i = 0; i < 3; i++) {
    n[i] = report_from(DEVICES[i], fails[i], payload, len, rep[i], &at[i]);
    if (at[i] > last) last = at[i];
    ingest(srv, rep[i], n[i], at[i], DEVCARE_INGEST_ACCEPTED, DEVCARE_OK, 200);
  }
  /* A duplicate is acknowledged and changes nothing. */
  ingest(srv, rep[0], n[0], last, DEVCARE_INGEST_DUPLICATE, DEVCARE_OK, 200);
  /* A forged report (one byte flipped) is refused: 401. */
  uint8_t forged[1024];
  memcpy(forged, rep[1], n[1]);
  forged[n[1] / 2] ^= 0x01;
  ingest(srv, forged, n[1], last, DEVCARE_INGEST_REJECTED, DEVCARE_REPORT_BAD_MAC, 401);
  /* A device that is not a target (it got the campaign from a payload targeting all): 403. */
  devcare_server *other = NULL;
  CHECK(devcare_server_open(NULL, MASTER, &other));
  char all[4096], other_id[65];
  snprintf(all, sizeof all, CAMPAIGN_TOML, "targets = { all = true }");
  CHECK(devcare_server_create_campaign(other, all, strlen(all), 100, T0, other_id, sizeof other_id));
  uint8_t payload_all[4096];
  size_t len_all = 0;
  CHECK(devcare_server_build_payload(other, other_id, SIGNING_SEED, T0 + 24 * 60 * MIN, T0, payload_all,
                                     sizeof payload_all, &len_all));
  devcare_server_free(other);
  uint8_t stranger[1024];
  uint64_t sat = 0;
  size_t sn = report_from("IMEI:9", "./Proxy/Port", payload_all, len_all, stranger, &sat);
  ingest(srv, stranger, sn, sat, DEVCARE_INGEST_REJECTED, DEVCARE_NOT_TARGETED, 403);

  /* Care to completion: IMEI:1's first attempt fails, everything else works. */
  uint64_t now = last;
  int orders = 0;
  for (int round = 0; round < 10; round++) {
    devcare_care_order order;
    uint32_t idx[256];
    devcare_result r;
    while ((r = devcare_server_next_care(srv, now, &order, idx, 256)) == DEVCARE_OK) {
      bool ok = !(strcmp(order.device, "IMEI:1") == 0 && order.attempt == 1);
      CHECK(devcare_server_care_outcome(srv, order.campaign, order.device, order.attempt, ok, now));
      orders++;
    }
    EXPECT(r, DEVCARE_NOTHING_DUE);
    now += 10 * MIN;
  }
  uint64_t wake = 0;
  CHECK(devcare_server_tick(srv, T0 + 6 * 60 * MIN, &wake));
  ASSERT(wake == 0);

  devcare_stats st;
  CHECK(devcare_server_stats(srv, campaign, &st));
  printf("stats: targeted=%llu failure_reports=%llu care_dispatched=%llu recovered=%llu escalated=%llu "
         "presumed_ok=%llu in_care=%llu settled=%d orders=%d\n",
         (unsigned long long)st.targeted, (unsigned long long)st.failure_reports,
         (unsigned long long)st.care_dispatched, (unsigned long long)st.recovered,
         (unsigned long long)st.escalated, (unsigned long long)st.presumed_ok,
         (unsigned long long)st.in_care, st.settled, orders);
  devcare_server_free(srv);

  /* Key files that say what they hold: the signing key's PEM reads back as a signing key
   * and is refused where a public key is needed; bare hex reads, flagged as legacy. */
  char pem[256];
  size_t pem_len = 0;
  char tiny[8];
  EXPECT(devcare_key_file_write(DEVCARE_KEY_SIGNING, SIGNING_SEED, tiny, sizeof tiny, &pem_len), DEVCARE_BUFFER_TOO_SMALL);
  ASSERT(pem_len > sizeof tiny);
  CHECK(devcare_key_file_write(DEVCARE_KEY_SIGNING, SIGNING_SEED, pem, sizeof pem, &pem_len));
  ASSERT(strncmp(pem, "-----BEGIN PRIVATE KEY-----", 27) == 0 && strlen(pem) == pem_len);
  uint8_t back[32];
  bool legacy = true;
  CHECK(devcare_key_file_read(pem, pem_len, DEVCARE_KEY_SIGNING, back, &legacy));
  ASSERT(memcmp(back, SIGNING_SEED, 32) == 0 && !legacy);
  EXPECT(devcare_key_file_read(pem, pem_len, DEVCARE_KEY_PUBLIC, back, &legacy), DEVCARE_KEY_WRONG_KIND);
  char why[256];
  devcare_last_error(why, sizeof why, NULL);
  ASSERT(strstr(why, "signing key") && strstr(why, "public key"));
  EXPECT(devcare_key_file_read(pem, pem_len, 9, back, &legacy), DEVCARE_INVALID_ARGUMENT);
  const char *hex = "2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a\n";
  CHECK(devcare_key_file_read(hex, strlen(hex), DEVCARE_KEY_SIGNING, back, &legacy));
  ASSERT(legacy && memcmp(back, SIGNING_SEED, 32) == 0);
  EXPECT(devcare_key_file_read("nope", 4, DEVCARE_KEY_SIGNING, back, &legacy), DEVCARE_KEY_MALFORMED);
  EXPECT(devcare_key_file_read(NULL, 4, DEVCARE_KEY_SIGNING, back, &legacy), DEVCARE_NULL_ARGUMENT);
  return 0;
}
