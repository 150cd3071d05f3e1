/* A handset's whole flow on the device-only library (built without the `server` feature,
 * compiled with -DDEVCARE_DEVICE_ONLY): verify and apply a broadcast payload with one
 * failing setting, evaluate at the schedule's instant, and render the one report as a
 * Generic Alert; then reboot: the log replays from its file, locked while open. The
 * payload and keys are the wire vectors' (tests/vectors/wire.json).
 * Usage: device_only STORE_DIR PAYLOAD_HEX PUBLIC_KEY_HEX MASTER_HEX NOW_MS */
#include "common.h"

#ifdef DEVCARE_SERVER
#error "device_only.c is compiled against the device-only declarations"
#endif

/* Every setting applies but the third (index 2), which answers 500. */
static uint16_t apply(void *user_data, const devcare_setting *setting, uint8_t *verify) {
  (void)setting;
  unsigned *seen = user_data;
  *verify = DEVCARE_VERIFY_MATCH;
  return (*seen)++ == 2 ? 500 : 200;
}

int main(int argc, char **argv) {
  ASSERT(argc == 6);
  uint8_t payload[8192], pk[32], master[32], key[32];
  size_t len = unhex(argv[2], payload, sizeof payload);
  ASSERT(unhex(argv[3], pk, sizeof pk) == 32);
  ASSERT(unhex(argv[4], master, sizeof master) == 32);
  uint64_t now = strtoull(argv[5], NULL, 10);
  const char *id = "IMEI:490154203237518";
  CHECK(devcare_derive_device_key(master, id, key));

  devcare_device *dev = NULL;
  CHECK(devcare_device_open(argv[1], id, NULL, 0, pk, key, &dev));
  unsigned seen = 0;
  CHECK(devcare_device_receive(dev, payload, len, now, apply, &seen));
  ASSERT(seen == 6);

  /* Tick at each wake the device asks for until its report is due. */
  char xml[8192], campaign[65];
  size_t xml_len = 0;
  uint32_t attempt = 0;
  uint64_t at = now;
  devcare_result r = DEVCARE_NOTHING_DUE;
  for (int i = 0; i < 10 && r == DEVCARE_NOTHING_DUE; i++) {
    uint64_t wake = 0;
    CHECK(devcare_device_tick(dev, at, &wake));
    r = devcare_device_next_report_alert(dev, at, xml, sizeof xml, &xml_len, campaign,
                                         sizeof campaign, &attempt);
    if (wake == 0) break;
    at = wake;
  }
  CHECK(r);
  ASSERT(attempt == 1);
  ASSERT(strcmp(campaign, "apn-2026-11") == 0);
  ASSERT(strstr(xml, "<Data>1226</Data>") != NULL || strstr(xml, "1226") != NULL);
  CHECK(devcare_device_report_sent(dev, campaign, attempt, at));
  devcare_device_free(dev);

  /* Reboot: the log replays from its file, and the report sent is not due again. While
   * the agent is open its directory is locked: a second open is a store error. */
  CHECK(devcare_device_open(argv[1], id, NULL, 0, pk, key, &dev));
  devcare_device *second = NULL;
  ASSERT(devcare_device_open(argv[1], id, NULL, 0, pk, key, &second) == DEVCARE_STORE_ERROR);
  ASSERT(devcare_device_next_report_alert(dev, at, xml, sizeof xml, &xml_len, campaign,
                                          sizeof campaign, &attempt) == DEVCARE_NOTHING_DUE);
  size_t pending = 1;
  CHECK(devcare_device_pending(dev, &pending));
  ASSERT(pending == 0);
  devcare_device_free(dev);
  printf("device-only flow: one report of %zu bytes of XML for %s\n", xml_len, campaign);
  return 0;
}
