/* A DM client that sends its failure report as an OMA DM Generic Alert in its session, and a
 * server that ingests the message: accepted once, then a duplicate; a malformed message and
 * an unknown alert type get their codes. */
#include "common.h"

int main(void) {
  devcare_server *srv = NULL;
  CHECK(devcare_server_open(NULL, MASTER, &srv));
  char toml[4096], campaign[65];
  snprintf(toml, sizeof toml, CAMPAIGN_TOML, "targets = { all = true }");
  CHECK(devcare_server_create_campaign(srv, toml, strlen(toml), 100, T0, campaign, sizeof campaign));
  uint8_t payload[4096];
  size_t len = 0;
  CHECK(devcare_server_build_payload(srv, campaign, SIGNING_SEED, T0 + 24 * 60 * MIN, T0, payload, sizeof payload, &len));

  uint8_t pk[32], key[32];
  CHECK(devcare_public_key(SIGNING_SEED, pk));
  CHECK(devcare_derive_device_key(MASTER, "IMEI:7", key));
  devcare_device *dev = NULL;
  CHECK(devcare_device_open(NULL, "IMEI:7", NULL, 0, pk, key, &dev));
  struct dm_tree tree = {.fail_uri = "./AP/Default/Auth"};
  CHECK(devcare_device_receive(dev, payload, len, T0, tree_apply, &tree));
  uint64_t slot = 0;
  CHECK(devcare_device_tick(dev, T0 + 5 * MIN, &slot));
  ASSERT(slot > 0);

  static char xml[8192];
  size_t xlen = 0;
  uint32_t attempt = 0;
  char cid[65];
  EXPECT(devcare_device_next_report_alert(dev, slot - 1, xml, sizeof xml, &xlen, cid, sizeof cid, &attempt), DEVCARE_NOTHING_DUE);
  char tiny[16];
  EXPECT(devcare_device_next_report_alert(dev, slot, tiny, sizeof tiny, &xlen, cid, sizeof cid, &attempt), DEVCARE_BUFFER_TOO_SMALL);
  ASSERT(xlen + 1 > sizeof tiny); /* *len is without the NUL, as on success */
  CHECK(devcare_device_next_report_alert(dev, slot, xml, sizeof xml, &xlen, cid, sizeof cid, &attempt));
  ASSERT(strlen(xml) == xlen && strstr(xml, "<Data>1226</Data>") && strstr(xml, "uri=./AP/Default/Auth"));
  CHECK(devcare_device_report_sent(dev, cid, attempt, slot));

  size_t reports = 0, accepted = 0, duplicates = 0;
  uint16_t status = 0;
  /* A report for IMEI:7 in another device's session is refused whole (403) and changes
   * nothing; a gateway must be allowed to speak for it. */
  EXPECT(devcare_server_ingest_alert(srv, xml, xlen, "IMEI:8", slot, &reports, &accepted, &duplicates, &status),
         DEVCARE_ALERT_NOT_SENDER);
  const char *others[] = {"IMEI:8", "IMEI:9"};
  EXPECT(devcare_server_ingest_gateway_alert(srv, xml, xlen, others, 2, slot, &reports, &accepted, &duplicates, &status),
         DEVCARE_ALERT_NOT_SENDER);
  EXPECT(devcare_server_ingest_alert(srv, xml, xlen, NULL, slot, &reports, &accepted, &duplicates, &status),
         DEVCARE_NULL_ARGUMENT);
  devcare_stats before;
  CHECK(devcare_server_stats(srv, campaign, &before));
  ASSERT(before.failure_reports == 0);
  /* The device feeds back the Status the server gave its Alert: a 500 leaves the report to
   * be resent (still due at the next retry), the 200 acknowledges it. */
  devcare_report_answer answer = DEVCARE_ANSWER_ACKNOWLEDGED;
  CHECK(devcare_device_report_status(dev, cid, attempt, 500, slot, &answer));
  ASSERT(answer == DEVCARE_ANSWER_SEND_AGAIN);
  EXPECT(devcare_device_report_status(dev, "no-such-campaign", attempt, 200, slot, &answer), DEVCARE_UNKNOWN_CAMPAIGN);
  EXPECT(devcare_device_report_status(dev, cid, attempt, 200, slot, NULL), DEVCARE_NULL_ARGUMENT);
  CHECK(devcare_server_ingest_alert(srv, xml, xlen, "IMEI:7", slot, &reports, &accepted, &duplicates, &status));
  ASSERT(reports == 1 && accepted == 1 && duplicates == 0 && status == 200);
  CHECK(devcare_device_report_status(dev, cid, attempt, status, slot, &answer));
  ASSERT(answer == DEVCARE_ANSWER_ACKNOWLEDGED);
  uint64_t next = 1;
  CHECK(devcare_device_tick(dev, slot + 60 * MIN, &next));
  EXPECT(devcare_device_next_report_alert(dev, slot + 60 * MIN, xml, sizeof xml, &xlen, cid, sizeof cid, &attempt),
         DEVCARE_NOTHING_DUE); /* acknowledged: never sent again */
  const char *gateway[] = {"IMEI:9", "IMEI:7"};
  CHECK(devcare_server_ingest_gateway_alert(srv, xml, xlen, gateway, 2, slot, &reports, &accepted, &duplicates, &status));
  ASSERT(reports == 1 && duplicates == 1);
  CHECK(devcare_server_ingest_alert(srv, xml, xlen, "IMEI:7", slot, &reports, &accepted, &duplicates, &status));
  ASSERT(reports == 1 && accepted == 0 && duplicates == 1 && status == 200);

  const char *broken = "<Alert><Data>1226</Data><Item>";
  EXPECT(devcare_server_ingest_alert(srv, broken, strlen(broken), "IMEI:7", slot, &reports, &accepted, &duplicates, &status),
         DEVCARE_ALERT_MALFORMED_XML);
  char *other = strstr(xml, "org.devcare.report.failure");
  ASSERT(other != NULL);
  memcpy(other, "com.vendor.fota.xxxxxxxxxx", 26);
  EXPECT(devcare_server_ingest_alert(srv, xml, xlen, "IMEI:7", slot, &reports, &accepted, &duplicates, &status),
         DEVCARE_ALERT_UNKNOWN_TYPE);
  char msg[256];
  CHECK(devcare_last_error(msg, sizeof msg, NULL));
  ASSERT(strstr(msg, "(DM status 415)") != NULL);

  devcare_stats st;
  CHECK(devcare_server_stats(srv, campaign, &st));
  ASSERT(st.failure_reports == 1);
  devcare_device_free(dev);
  devcare_server_free(srv);
  printf("alert: ok\n");
  return 0;
}
