/* The README's "Using devcare from C" snippet, compiled and run by the test suite. */
#include <stdio.h>
#include <string.h>

#include "devcare.h"

static uint16_t apply(void *tree, const devcare_setting *s, uint8_t *verify) {
  (void)tree;
  (void)verify;
  printf("apply %s\n", s->uri); /* write the node into your DM tree here */
  return 200;                   /* OMA DM status of the command */
}

int main(void) {
  uint8_t seed[32] = {1}, master[32] = {2}, pub[32], key[32], payload[2048];
  size_t len = 0;
  char campaign[65];
  const char *toml =
      "id = \"hello\"\nrevision = 1\nissued_at = 2026-11-25T10:00:00Z\n"
      "salt = \"000102030405060708090a0b0c0d0e0f\"\ntargets = { all = true }\n"
      "[[settings]]\nop = \"replace\"\nuri = \"./AP/Default/APN\"\nvalue = \"internet.example\"\n";
  uint64_t now = 1795600800000ULL; /* 2026-11-25T10:00:00Z, in ms */

  /* Server side: campaign file -> signed broadcast payload. */
  devcare_server *srv = NULL;
  if (devcare_server_open(NULL, master, &srv) != DEVCARE_OK ||
      devcare_server_create_campaign(srv, toml, strlen(toml), 1000, now, campaign, sizeof campaign) != DEVCARE_OK ||
      devcare_server_build_payload(srv, campaign, seed, now + 86400000, now, payload, sizeof payload, &len) != DEVCARE_OK) {
    char msg[256];
    devcare_last_error(msg, sizeof msg, NULL);
    fprintf(stderr, "server: %s\n", msg);
    return 1;
  }

  /* Device side: verify, apply, evaluate; a healthy device stays silent. */
  devcare_public_key(seed, pub);
  devcare_derive_device_key(master, "IMEI:490154203237518", key);
  devcare_device *dev = NULL;
  uint64_t wake = 0;
  devcare_result r = devcare_device_open(NULL, "IMEI:490154203237518", NULL, 0, pub, key, &dev);
  if (r == DEVCARE_OK) r = devcare_device_receive(dev, payload, len, now, apply, NULL);
  if (r == DEVCARE_OK) r = devcare_device_tick(dev, now + 5 * 60000, &wake);
  printf("%s, next wake %llu\n", devcare_result_name(r), (unsigned long long)wake);
  devcare_device_free(dev);
  devcare_server_free(srv);
  return r == DEVCARE_OK ? 0 : 1;
}
