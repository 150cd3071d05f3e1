/* Misuse of the C API: NULL handles and buffers, zero lengths, garbage, too-small buffers,
 * bad UTF-8, a bad campaign file, and free(NULL) after a close. Each gives its documented
 * code; nothing crashes or leaks. */
#include "common.h"

int main(void) {
  uint8_t pk[32], key[32], buf[64];
  size_t len = 0;
  char campaign[65];
  uint32_t attempt = 0;
  uint64_t wake = 0;
  CHECK(devcare_public_key(SIGNING_SEED, pk));
  CHECK(devcare_derive_device_key(MASTER, "IMEI:1", key));

  /* NULL handles. */
  EXPECT(devcare_device_tick(NULL, T0, &wake), DEVCARE_NULL_ARGUMENT);
  EXPECT(devcare_device_receive(NULL, buf, 0, T0, tree_apply, NULL), DEVCARE_NULL_ARGUMENT);
  EXPECT(devcare_device_next_report(NULL, T0, buf, sizeof buf, &len, campaign, 65, &attempt), DEVCARE_NULL_ARGUMENT);
  EXPECT(devcare_device_report_sent(NULL, "c", 1, T0), DEVCARE_NULL_ARGUMENT);
  EXPECT(devcare_server_tick(NULL, T0, &wake), DEVCARE_NULL_ARGUMENT);
  EXPECT(devcare_server_stats(NULL, "c", NULL), DEVCARE_NULL_ARGUMENT);
  EXPECT(devcare_server_ingest_report(NULL, buf, 0, T0, NULL, NULL, NULL), DEVCARE_NULL_ARGUMENT);

  /* NULL arguments to open. */
  devcare_device *dev = NULL;
  EXPECT(devcare_device_open(NULL, NULL, NULL, 0, pk, key, &dev), DEVCARE_NULL_ARGUMENT);
  EXPECT(devcare_device_open(NULL, "IMEI:1", NULL, 0, NULL, key, &dev), DEVCARE_NULL_ARGUMENT);
  EXPECT(devcare_device_open(NULL, "IMEI:1", NULL, 0, pk, key, NULL), DEVCARE_NULL_ARGUMENT);
  ASSERT(dev == NULL); /* out-parameters untouched on failure */
  EXPECT(devcare_device_open(NULL, "IMEI 1", NULL, 0, pk, key, &dev), DEVCARE_INVALID_ARGUMENT);
  EXPECT(devcare_device_open(NULL, "\xff\xfe", NULL, 0, pk, key, &dev), DEVCARE_INVALID_UTF8);
  ASSERT(dev == NULL);
  CHECK(devcare_device_open(NULL, "IMEI:1", NULL, 0, pk, key, &dev));

  /* Zero-length and garbage payloads, NULL buffer with a length, NULL callback. */
  EXPECT(devcare_device_receive(dev, NULL, 0, T0, tree_apply, NULL), DEVCARE_PAYLOAD_TRUNCATED);
  EXPECT(devcare_device_receive(dev, NULL, 10, T0, tree_apply, NULL), DEVCARE_NULL_ARGUMENT);
  uint8_t garbage[200];
  for (int i = 0; i < 200; i++) garbage[i] = (uint8_t)(i * 37 + 11);
  EXPECT(devcare_device_receive(dev, garbage, sizeof garbage, T0, tree_apply, NULL), DEVCARE_PAYLOAD_BAD_MAGIC);
  memcpy(garbage, "DVCP\x01", 5);
  EXPECT(devcare_device_receive(dev, garbage, sizeof garbage, T0, tree_apply, NULL), DEVCARE_PAYLOAD_LENGTH_MISMATCH);
  EXPECT(devcare_device_receive(dev, garbage, sizeof garbage, T0, NULL, NULL), DEVCARE_NULL_ARGUMENT);
  EXPECT(devcare_device_next_report(dev, T0, buf, sizeof buf, &len, campaign, 65, &attempt), DEVCARE_NOTHING_DUE);
  EXPECT(devcare_device_next_report(dev, T0, buf, sizeof buf, NULL, campaign, 65, &attempt), DEVCARE_NULL_ARGUMENT);
  EXPECT(devcare_device_report_sent(dev, "no-such-campaign", 1, T0), DEVCARE_UNKNOWN_CAMPAIGN);
  EXPECT(devcare_device_report_sent(dev, NULL, 1, T0), DEVCARE_NULL_ARGUMENT);
  uint64_t refused = 0;
  CHECK(devcare_device_rejections(dev, &refused));
  ASSERT(refused == 3);

  /* The last error explains; a small buffer truncates but still terminates. */
  char msg[256];
  size_t full = 0;
  CHECK(devcare_last_error(msg, sizeof msg, &full));
  ASSERT(strstr(msg, "no campaign no-such-campaign") == NULL || full > 0);
  char tiny[8];
  CHECK(devcare_last_error(tiny, sizeof tiny, &full));
  ASSERT(strlen(tiny) == 7 && full > 7);

  /* Server: a bad campaign file names file:line:col; a too-small payload buffer reports the need. */
  devcare_server *srv = NULL;
  CHECK(devcare_server_open(NULL, MASTER, &srv));
  const char *bad = "id = \"c\"\nrevision = 1\nissued_at = 2026-05-28T20:26:40Z\nsalt = \"00\"\n";
  EXPECT(devcare_server_create_campaign(srv, bad, strlen(bad), 10, T0, campaign, 65), DEVCARE_CAMPAIGN_INVALID);
  CHECK(devcare_last_error(msg, sizeof msg, NULL));
  ASSERT(strncmp(msg, "campaign.toml:4:8: salt:", 24) == 0);
  EXPECT(devcare_server_create_campaign(srv, bad, strlen(bad), 10, T0, NULL, 0), DEVCARE_CAMPAIGN_INVALID);
  char toml[4096];
  snprintf(toml, sizeof toml, CAMPAIGN_TOML, "targets = { all = true }");
  EXPECT(devcare_server_create_campaign(srv, toml, strlen(toml), 0, T0, campaign, 65), DEVCARE_TARGET_COUNT);
  CHECK(devcare_server_create_campaign(srv, toml, strlen(toml), 10, T0, campaign, 65));
  size_t need = 0;
  EXPECT(devcare_server_build_payload(srv, campaign, SIGNING_SEED, T0 + MIN, T0, buf, sizeof buf, &need), DEVCARE_BUFFER_TOO_SMALL);
  ASSERT(need > sizeof buf);
  EXPECT(devcare_server_build_payload(srv, "nope", SIGNING_SEED, T0 + MIN, T0, buf, sizeof buf, &need), DEVCARE_UNKNOWN_CAMPAIGN);
  devcare_ingest outcome;
  devcare_result reason;
  uint16_t status;
  CHECK(devcare_server_ingest_report(srv, garbage, sizeof garbage, T0, &outcome, &reason, &status));
  ASSERT(outcome == DEVCARE_INGEST_REJECTED && reason == DEVCARE_REPORT_BAD_MAGIC && status == 400);
  CHECK(devcare_server_ingest_report(srv, NULL, 0, T0, &outcome, &reason, &status));
  ASSERT(outcome == DEVCARE_INGEST_REJECTED);
  devcare_stats st;
  EXPECT(devcare_server_stats(srv, "nope", &st), DEVCARE_UNKNOWN_CAMPAIGN);
  CHECK(devcare_server_stats(srv, campaign, &st));
  ASSERT(st.failure_reports == 0 && st.targeted == 10);

  /* A payload whose broadcast cannot be recorded (too late for the deadline) is not handed
   * out: neither the buffer nor the length is written. */
  devcare_server *late = NULL;
  CHECK(devcare_server_open(NULL, MASTER, &late));
  CHECK(devcare_server_create_campaign(late, toml, strlen(toml), 10, T0, campaign, 65));
  static uint8_t big[4096];
  memset(big, 0xAB, sizeof big);
  size_t untouched = 12345;
  EXPECT(devcare_server_build_payload(late, campaign, SIGNING_SEED, T0 + 600 * MIN, T0 + 300 * MIN, big, sizeof big,
                                      &untouched),
         DEVCARE_BROADCAST_TOO_LATE);
  ASSERT(untouched == 12345 && big[0] == 0xAB && big[sizeof big - 1] == 0xAB);
  devcare_server_free(late);

  /* devcare_last_error truncates on a character boundary: a message with a two-byte
   * character cut in the middle keeps it out whole. */
  EXPECT(devcare_server_stats(srv, "caf\xc3\xa9-nope", &st), DEVCARE_INVALID_ARGUMENT);
  char whole[256];
  CHECK(devcare_last_error(whole, sizeof whole, NULL));
  const char *e_acute = strstr(whole, "\xc3\xa9");
  ASSERT(e_acute != NULL);
  size_t cut = (size_t)(e_acute - whole) + 2; /* room for the text before it and 1 byte of it */
  char part[256];
  CHECK(devcare_last_error(part, cut, NULL));
  ASSERT(strlen(part) == (size_t)(e_acute - whole)); /* the half character is left out */

  /* Close, then the documented double close: free(NULL) is a no-op. */
  devcare_device_free(dev);
  dev = NULL;
  devcare_device_free(dev);
  devcare_server_free(srv);
  srv = NULL;
  devcare_server_free(srv);
  devcare_device_free(NULL);
  ASSERT(strcmp(devcare_result_name(9999), "DEVCARE_UNKNOWN_RESULT") == 0);
  printf("misuse: ok\n");
  return 0;
}
