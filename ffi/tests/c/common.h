/* Helpers shared by the C test programs. */
#ifndef DEVCARE_TEST_COMMON_H
#define DEVCARE_TEST_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devcare.h"

#define T0 1780000000000ULL
#define MIN 60000ULL

static void die(const char *what, devcare_result r) {
  char msg[512];
  devcare_last_error(msg, sizeof msg, NULL);
  fprintf(stderr, "FAIL %s: %s (%u): %s\n", what, devcare_result_name(r), (unsigned)r, msg);
  exit(1);
}

#define CHECK(call)                    \
  do {                                 \
    devcare_result r_ = (call);        \
    if (r_ != DEVCARE_OK) die(#call, r_); \
  } while (0)

#define EXPECT(call, want)                                                            \
  do {                                                                                \
    devcare_result r_ = (call);                                                       \
    if (r_ != (want)) {                                                               \
      fprintf(stderr, "FAIL %s: got %s (%u), want %s\n", #call, devcare_result_name(r_), \
              (unsigned)r_, #want);                                                   \
      exit(1);                                                                        \
    }                                                                                 \
  } while (0)

#define ASSERT(cond)                                          \
  do {                                                        \
    if (!(cond)) {                                            \
      fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      exit(1);                                                \
    }                                                         \
  } while (0)

__attribute__((unused)) static const uint8_t MASTER[32] = {7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
                                   7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7};
__attribute__((unused)) static const uint8_t SIGNING_SEED[32] = {42, 42, 42, 42, 42, 42, 42, 42, 42, 42, 42,
                                         42, 42, 42, 42, 42, 42, 42, 42, 42, 42, 42,
                                         42, 42, 42, 42, 42, 42, 42, 42, 42, 42};

/* A small campaign: four settings, no success probe, 1h window, 3 care attempts. */
__attribute__((unused)) static const char *CAMPAIGN_TOML =
    "id = \"apn-c\"\n"
    "revision = 1\n"
    "issued_at = 2026-05-28T20:26:40Z\n"
    "salt = \"000102030405060708090a0b0c0d0e0f\"\n"
    "%s\n"
    "[[settings]]\nop = \"replace\"\nuri = \"./AP/Default/APN\"\nvalue = \"internet.example\"\n"
    "[[settings]]\nop = \"replace\"\nuri = \"./AP/Default/Auth\"\nvalue = \"chap\"\n"
    "[[settings]]\nop = \"replace\"\nuri = \"./Proxy/Port\"\nvalue = 8080\n"
    "[[settings]]\nop = \"exec\"\nuri = \"./Vendor/Reload\"\n"
    "[schedule]\nevaluate_after = \"5m\"\nsample_success = \"0%%\"\n"
    "[schedule.report]\noffset = \"1m\"\nwindow = \"1h\"\ndeadline = \"6h\"\n"
    "[schedule.care]\nattempts = 3\nspacing = \"10m\"\n";

/* An in-memory DM tree: records applied URIs; fails the one named in fail_uri. */
struct dm_tree {
  const char *fail_uri;
  int applied;
  int failed;
  char uris[32][80];
};

__attribute__((unused)) static uint16_t tree_apply(void *user_data, const devcare_setting *s, uint8_t *verify) {
  struct dm_tree *t = user_data;
  (void)verify;
  if (t->fail_uri != NULL && strcmp(s->uri, t->fail_uri) == 0) {
    t->failed++;
    return 500;
  }
  if (t->applied < 32) {
    snprintf(t->uris[t->applied], sizeof t->uris[0], "%s", s->uri);
  }
  t->applied++;
  return 200;
}

/* Hex text `h` into `out` (at most `cap` bytes); returns the byte count. */
static inline size_t unhex(const char *h, uint8_t *out, size_t cap) {
  size_t n = strlen(h) / 2;
  ASSERT(n <= cap);
  for (size_t i = 0; i < n; i++) {
    unsigned v;
    ASSERT(sscanf(h + 2 * i, "%2x", &v) == 1);
    out[i] = (uint8_t)v;
  }
  return n;
}

#endif
