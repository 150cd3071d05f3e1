/* A device killed inside its apply callback, then reopened from its log (a torn last append set aside, its size told).
 *   reboot DIR die     takes the campaign on and exits the process mid-apply
 *   reboot DIR resume  reopens: the campaign is pending, resume applies it, it evaluates */
#include <unistd.h>

#include "common.h"

static int applied_before_death = 0;

static uint16_t die_on_second(void *user_data, const devcare_setting *s, uint8_t *verify) {
  (void)user_data;
  (void)s;
  (void)verify;
  if (++applied_before_death == 2) {
    printf("died after %d settings\n", applied_before_death - 1);
    fflush(stdout);
    _exit(0); /* the power cut: no return, no cleanup */
  }
  return 200;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: reboot DIR die|resume\n");
    return 2;
  }
  devcare_server *srv = NULL;
  CHECK(devcare_server_open(NULL, MASTER, &srv));
  char toml[4096], campaign[65];
  snprintf(toml, sizeof toml, CAMPAIGN_TOML, "targets = { all = true }");
  CHECK(devcare_server_create_campaign(srv, toml, strlen(toml), 10, T0, campaign, sizeof campaign));
  uint8_t payload[4096], pk[32], key[32];
  size_t len = 0;
  CHECK(devcare_server_build_payload(srv, campaign, SIGNING_SEED, T0 + 24 * 60 * MIN, T0, payload,
                                     sizeof payload, &len));
  devcare_server_free(srv);
  CHECK(devcare_public_key(SIGNING_SEED, pk));
  CHECK(devcare_derive_device_key(MASTER, "IMEI:1", key));
  devcare_device *dev = NULL;
  CHECK(devcare_device_open(argv[1], "IMEI:1", NULL, 0, pk, key, &dev));
  size_t pending = 99;
  CHECK(devcare_device_pending(dev, &pending));

  if (strcmp(argv[2], "die") == 0) {
    ASSERT(pending == 0);
    devcare_device_receive(dev, payload, len, T0, die_on_second, NULL);
    fprintf(stderr, "FAIL: the apply callback should not have returned\n");
    return 1;
  }

  ASSERT(pending == 1);
  /* What the open set aside of a torn last append (the test appends one before this run). */
  uint64_t torn = 99;
  CHECK(devcare_device_torn_tail(dev, &torn));
  printf("torn tail: %llu bytes\n", (unsigned long long)torn);
  EXPECT(devcare_device_torn_tail(dev, NULL), DEVCARE_NULL_ARGUMENT);
  /* The payload again is a stale revision: the campaign was taken on before the cut. */
  struct dm_tree tree = {0};
  EXPECT(devcare_device_receive(dev, payload, len, T0 + MIN, tree_apply, &tree), DEVCARE_STALE_REVISION);
  ASSERT(tree.applied == 0);
  size_t resumed = 0;
  CHECK(devcare_device_resume(dev, T0 + MIN, tree_apply, &tree, &resumed));
  ASSERT(resumed == 1 && tree.applied == 4);
  CHECK(devcare_device_pending(dev, &pending));
  ASSERT(pending == 0);
  uint64_t wake = 1;
  CHECK(devcare_device_tick(dev, T0 + 5 * MIN, &wake));
  ASSERT(wake == 0); /* healthy: silent */
  char cid[65];
  uint32_t rev = 0;
  CHECK(devcare_device_checkin(dev, 0, cid, sizeof cid, &rev));
  ASSERT(strcmp(cid, campaign) == 0 && rev == 1);
  EXPECT(devcare_device_resume(dev, T0, NULL, NULL, NULL), DEVCARE_NULL_ARGUMENT);
  EXPECT(devcare_device_pending(dev, NULL), DEVCARE_NULL_ARGUMENT);
  devcare_device_free(dev);
  printf("reboot: ok\n");
  return 0;
}
