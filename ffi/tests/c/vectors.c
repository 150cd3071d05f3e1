/* The shared vectors, checked from C. Reads a flattened copy of tests/vectors/slots.json and
 * tests/vectors/wire.json that the Rust harness writes (one record per line):
 *   slot SALT_HEX DEVICE SLOT_HEX
 *   first_report_at SALT_HEX DEVICE EVALUATED OFFSET WINDOW EXPECTED
 *   retry SALT_HEX DEVICE N BACKOFF MAX EXPECTED
 *   sampled SALT_HEX DEVICE PPM 0|1
 *   payload PUBKEY_HEX NOW PAYLOAD_HEX CAMPAIGN REVISION SETTINGS
 * Usage: vectors FILE */
#include <inttypes.h>

#include "common.h"

int main(int argc, char **argv) {
  ASSERT(argc == 2);
  FILE *f = fopen(argv[1], "r");
  ASSERT(f != NULL);
  static char line[65536];
  static uint8_t payload[32768];
  static char hexbuf[65536];
  int checked = 0;
  while (fgets(line, sizeof line, f)) {
    char kind[32], salt_hex[64], dev[200];
    uint8_t salt[16];
    if (sscanf(line, "%31s", kind) != 1) continue;
    if (strcmp(kind, "payload") == 0) {
      char pk_hex[65], campaign[65], want_campaign[65];
      uint64_t now;
      unsigned rev, want_rev;
      size_t nset, want_nset;
      uint8_t pk[32];
      ASSERT(sscanf(line, "payload %64s %" SCNu64 " %65535s %64s %u %zu", pk_hex, &now, hexbuf, want_campaign, &want_rev, &want_nset) == 6);
      unhex(pk_hex, pk, 32);
      size_t len = unhex(hexbuf, payload, sizeof payload);
      uint32_t r32 = 0;
      CHECK(devcare_payload_inspect(payload, len, pk, now, campaign, sizeof campaign, &r32, &nset));
      rev = r32;
      ASSERT(strcmp(campaign, want_campaign) == 0 && rev == want_rev && nset == want_nset);
      payload[len / 2] ^= 1;
      EXPECT(devcare_payload_inspect(payload, len, pk, now, campaign, sizeof campaign, &r32, &nset), DEVCARE_PAYLOAD_BAD_SIGNATURE);
      checked++;
      continue;
    }
    ASSERT(sscanf(line, "%*s %63s %199s", salt_hex, dev) == 2);
    unhex(salt_hex, salt, 16);
    if (strcmp(kind, "slot") == 0) {
      uint64_t want, got;
      ASSERT(sscanf(line, "%*s %*s %*s %" SCNx64, &want) == 1);
      CHECK(devcare_slot(salt, dev, &got));
      ASSERT(got == want);
    } else if (strcmp(kind, "first_report_at") == 0) {
      uint64_t eval, off, win, want, got;
      ASSERT(sscanf(line, "%*s %*s %*s %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64, &eval, &off, &win, &want) == 4);
      CHECK(devcare_first_report_at(salt, dev, eval, off, win, &got));
      ASSERT(got == want);
    } else if (strcmp(kind, "retry") == 0) {
      unsigned n;
      uint64_t backoff, max, want, got;
      ASSERT(sscanf(line, "%*s %*s %*s %u %" SCNu64 " %" SCNu64 " %" SCNu64, &n, &backoff, &max, &want) == 4);
      CHECK(devcare_retry_delay(salt, dev, n, backoff, max, &got));
      ASSERT(got == want);
    } else if (strcmp(kind, "sampled") == 0) {
      unsigned ppm, want;
      bool got;
      ASSERT(sscanf(line, "%*s %*s %*s %u %u", &ppm, &want) == 2);
      CHECK(devcare_sampled(salt, dev, ppm, &got));
      ASSERT(got == (want != 0));
    } else {
      fprintf(stderr, "unknown record %s\n", kind);
      return 1;
    }
    checked++;
  }
  fclose(f);
  printf("vectors: %d checked\n", checked);
  return 0;
}
