/* A handset's DM toolkit and a DM server, each building its own messages as real OMA DM
 * stacks do: the device takes its report as structured Items and puts them in package 1
 * beside another alert (a firmware update's Generic Alert); the server takes the whole
 * package, answers devcare's Alert with a Status and hands the other alert back untouched;
 * the device feeds that Status back. Then the same report as devcare's own WBXML package
 * (answered in WBXML), and the unhappy paths. */
#include "common.h"

/* Package 1 as a toolkit writes it: its header, devcare's Alert (CmdID 1, from the Items)
 * and a firmware update alert (CmdID 2). */
static size_t toolkit_package(char *out, size_t cap, const devcare_report_items *items) {
  size_t n = (size_t)snprintf(out, cap,
                              "<SyncML xmlns=\"SYNCML:SYNCML1.2\"><SyncHdr><VerDTD>1.2</VerDTD>"
                              "<VerProto>DM/1.2</VerProto><SessionID>4F2</SessionID><MsgID>1</MsgID>"
                              "<Target><LocURI>https://dm.example/</LocURI></Target>"
                              "<Source><LocURI>IMEI:7</LocURI></Source></SyncHdr><SyncBody>"
                              "<Alert><CmdID>1</CmdID><Data>1226</Data>");
  for (size_t i = 0; i < devcare_report_items_count(items); i++) {
    devcare_alert_item it;
    CHECK(devcare_report_items_get(items, i, &it));
    ASSERT(it.target == NULL && it.source && it.meta_type && it.format && it.mark && it.data);
    n += (size_t)snprintf(out + n, cap - n,
                          "<Item><Source><LocURI>%s</LocURI></Source><Meta>"
                          "<Type xmlns=\"syncml:metinf\">Reversed-Domain-Name: %s</Type>"
                          "<Format xmlns=\"syncml:metinf\">%s</Format>"
                          "<Mark xmlns=\"syncml:metinf\">%s</Mark></Meta><Data>%s</Data></Item>",
                          it.source, it.meta_type, it.format, it.mark, it.data);
  }
  n += (size_t)snprintf(out + n, cap - n,
                        "</Alert><Alert><CmdID>2</CmdID><Data>1226</Data><Item>"
                        "<Source><LocURI>./FUMO/Download</LocURI></Source><Meta>"
                        "<Type xmlns=\"syncml:metinf\">org.openmobilealliance.dm.firmwareupdate.download</Type>"
                        "<Format xmlns=\"syncml:metinf\">int</Format></Meta><Data>0</Data></Item>"
                        "</Alert><Final/></SyncBody></SyncML>");
  ASSERT(n < cap);
  return n;
}

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

  /* The device side: Items, not a fragment. */
  devcare_report_items *items = (devcare_report_items *)1;
  EXPECT(devcare_device_next_report_items(dev, slot - 1, DEVCARE_DATA_CHR, &items), DEVCARE_NOTHING_DUE);
  ASSERT(items == NULL);
  EXPECT(devcare_device_next_report_items(dev, slot, 7, &items), DEVCARE_INVALID_ARGUMENT);
  EXPECT(devcare_device_next_report_items(dev, slot, DEVCARE_DATA_CHR, NULL), DEVCARE_NULL_ARGUMENT);
  CHECK(devcare_device_next_report_items(dev, slot, DEVCARE_DATA_B64, &items));
  ASSERT(devcare_report_items_count(items) == 1 && devcare_report_items_attempt(items) == 1);
  ASSERT(strcmp(devcare_report_items_campaign(items), campaign) == 0);
  devcare_alert_item it;
  CHECK(devcare_report_items_get(items, 0, &it));
  ASSERT(strcmp(it.meta_type, "org.devcare.report.failure") == 0 && strcmp(it.format, "b64") == 0);
  ASSERT(strcmp(it.mark, "critical") == 0 && strstr(it.data, "devcare/1") == NULL); /* base64 */
  EXPECT(devcare_report_items_get(items, 1, &it), DEVCARE_INVALID_ARGUMENT);
  EXPECT(devcare_report_items_get(NULL, 0, &it), DEVCARE_NULL_ARGUMENT);
  EXPECT(devcare_report_items_get(items, 0, NULL), DEVCARE_NULL_ARGUMENT);
  ASSERT(devcare_report_items_count(NULL) == 0 && devcare_report_items_campaign(NULL) == NULL);
  static char pkg[16384];
  size_t plen = toolkit_package(pkg, sizeof pkg, items);
  uint32_t attempt = devcare_report_items_attempt(items);
  devcare_report_items_free(items);
  devcare_report_items_free(NULL);
  CHECK(devcare_device_report_sent(dev, campaign, attempt, slot));

  /* The server side: the whole package, each Alert on its own. */
  devcare_package *p = (devcare_package *)1;
  EXPECT(devcare_server_ingest_package(srv, (const uint8_t *)pkg, plen, "IMEI:8", slot, &p), DEVCARE_ALERT_NOT_SENDER);
  ASSERT(p == NULL);
  EXPECT(devcare_server_ingest_package(srv, (const uint8_t *)pkg, plen, "IMEI:7", slot, NULL), DEVCARE_NULL_ARGUMENT);
  CHECK(devcare_server_ingest_package(srv, (const uint8_t *)pkg, plen, "IMEI:7", slot, &p));
  ASSERT(devcare_package_alert_count(p) == 2 && strcmp(devcare_package_msg_id(p), "1") == 0);
  ASSERT(devcare_package_encoding(p) == DEVCARE_ENCODING_XML);
  devcare_package_alert a;
  CHECK(devcare_package_get_alert(p, 0, &a));
  ASSERT(!a.foreign && strcmp(a.cmd_id, "1") == 0 && a.outcome == DEVCARE_INGEST_ACCEPTED);
  ASSERT(a.dm_status == 200 && a.reason == DEVCARE_OK && a.reason_text[0] == '\0' && a.n_items == 0);
  CHECK(devcare_package_get_alert(p, 1, &a));
  ASSERT(a.foreign && strcmp(a.cmd_id, "2") == 0 && strcmp(a.code, "1226") == 0 && a.n_items == 1);
  CHECK(devcare_package_get_item(p, 1, 0, &it));
  ASSERT(strcmp(it.source, "./FUMO/Download") == 0 && it.target == NULL && it.mark == NULL);
  ASSERT(strcmp(it.meta_type, "org.openmobilealliance.dm.firmwareupdate.download") == 0);
  ASSERT(strcmp(it.format, "int") == 0 && strcmp(it.data, "0") == 0);
  EXPECT(devcare_package_get_item(p, 1, 1, &it), DEVCARE_INVALID_ARGUMENT);
  EXPECT(devcare_package_get_alert(p, 2, &a), DEVCARE_INVALID_ARGUMENT);
  /* The Status for devcare's Alert, as command 2 of the server's response. */
  size_t slen = 0;
  EXPECT(devcare_package_statuses(p, 2, NULL, 0, &slen), DEVCARE_BUFFER_TOO_SMALL);
  EXPECT(devcare_package_statuses(NULL, 2, NULL, 0, &slen), DEVCARE_NULL_ARGUMENT);
  EXPECT(devcare_package_statuses(p, 2, NULL, 0, NULL), DEVCARE_NULL_ARGUMENT);
  char *statuses = malloc(slen + 1);
  ASSERT(statuses != NULL);
  CHECK(devcare_package_statuses(p, 2, (uint8_t *)statuses, slen, &slen));
  statuses[slen] = '\0';
  ASSERT(strstr(statuses, "<CmdID>2</CmdID>") && strstr(statuses, "<MsgRef>1</MsgRef>"));
  ASSERT(strstr(statuses, "<CmdRef>1</CmdRef>") && strstr(statuses, "<Cmd>Alert</Cmd>") && strstr(statuses, "<Data>200</Data>"));
  ASSERT(strstr(statuses, "CmdRef>2<") == NULL); /* the other alert's Status is the host's */
  free(statuses);
  devcare_package_free(p);
  devcare_package_free(NULL);
  ASSERT(devcare_package_alert_count(NULL) == 0);

  /* The device feeds the Status back: acknowledged, never sent again. */
  devcare_report_answer answer = DEVCARE_ANSWER_SEND_AGAIN;
  CHECK(devcare_device_report_status(dev, campaign, attempt, 200, slot, &answer));
  ASSERT(answer == DEVCARE_ANSWER_ACKNOWLEDGED);
  items = NULL;
  EXPECT(devcare_device_next_report_items(dev, slot + MIN, DEVCARE_DATA_CHR, &items), DEVCARE_NOTHING_DUE);

  /* The same report as devcare's own WBXML package (a second device state would send it:
   * here the server reads it as a duplicate), answered in WBXML. */
  devcare_device *dev2 = NULL;
  CHECK(devcare_device_open(NULL, "IMEI:7", NULL, 0, pk, key, &dev2));
  struct dm_tree tree2 = {.fail_uri = "./AP/Default/Auth"};
  CHECK(devcare_device_receive(dev2, payload, len, T0, tree_apply, &tree2));
  CHECK(devcare_device_tick(dev2, T0 + 5 * MIN, &slot));
  static uint8_t wbxml[8192];
  size_t wlen = 0;
  char cid[65];
  EXPECT(devcare_device_next_report_package(dev2, slot, "4F3", 1, "https://dm.example/", DEVCARE_DATA_CHR, 9, wbxml,
                                            sizeof wbxml, &wlen, cid, sizeof cid, &attempt),
         DEVCARE_INVALID_ARGUMENT);
  CHECK(devcare_device_next_report_package(dev2, slot, "4F3", 1, "https://dm.example/", DEVCARE_DATA_CHR,
                                           DEVCARE_ENCODING_WBXML, wbxml, sizeof wbxml, &wlen, cid, sizeof cid, &attempt));
  ASSERT(wbxml[0] == 0x03 && wlen < 1024 && strcmp(cid, campaign) == 0);
  CHECK(devcare_server_ingest_package(srv, wbxml, wlen, "IMEI:7", slot, &p));
  ASSERT(devcare_package_encoding(p) == DEVCARE_ENCODING_WBXML && devcare_package_alert_count(p) == 1);
  CHECK(devcare_package_get_alert(p, 0, &a));
  ASSERT(!a.foreign && a.outcome == DEVCARE_INGEST_DUPLICATE && a.dm_status == 200);
  static uint8_t frag[512];
  CHECK(devcare_package_statuses(p, 2, frag, sizeof frag, &slen));
  /* A WBXML fragment: Status (token 0x29 with content) first, no XML text. */
  ASSERT(slen > 0 && frag[0] == 0x69 && memchr(frag, '<', slen) == NULL);
  devcare_package_free(p);

  /* Refused whole, nothing changed: not well-formed XML, WBXML that does not decode. */
  const char *broken = "<SyncML><SyncBody><Alert>";
  p = (devcare_package *)1;
  EXPECT(devcare_server_ingest_package(srv, (const uint8_t *)broken, strlen(broken), "IMEI:7", slot, &p),
         DEVCARE_ALERT_MALFORMED_XML);
  ASSERT(p == NULL);
  const uint8_t bad[] = {0x03, 0x92, 0x01, 0x6a, 0x00, 0x6d, 0x6c, 0x03, 'x'};
  EXPECT(devcare_server_ingest_package(srv, bad, sizeof bad, "IMEI:7", slot, &p), DEVCARE_ALERT_MALFORMED_WBXML);
  EXPECT(devcare_server_ingest_package(srv, NULL, 4, "IMEI:7", slot, &p), DEVCARE_NULL_ARGUMENT);
  devcare_stats st;
  CHECK(devcare_server_stats(srv, campaign, &st));
  ASSERT(st.failure_reports == 1);
  devcare_device_free(dev2);
  devcare_device_free(dev);
  devcare_server_free(srv);
  printf("dm_toolkit: ok\n");
  return 0;
}
