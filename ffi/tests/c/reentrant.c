/* A host that calls back into the handle from inside its own apply callback: every such
 * call — another call on the device, even devcare_device_free — is refused with
 * DEVCARE_REENTRANT and touches nothing; the outer call completes and the handle stays
 * usable. A call on another handle (the server) from inside the callback is fine. Runs
 * under valgrind: no invalid access, nothing freed twice. */
#include "common.h"

struct reentry {
  devcare_device *dev;
  devcare_server *srv;
  int calls;
  devcare_result tick, receive, freed_code, other_handle;
};

static uint16_t reenter(void *user_data, const devcare_setting *s, uint8_t *verify) {
  struct reentry *r = user_data;
  (void)s;
  (void)verify;
  if (r->calls++ == 0) {
    uint64_t wake = 0;
    r->tick = devcare_device_tick(r->dev, T0, &wake);
    r->receive = devcare_device_receive(r->dev, (const uint8_t *)"x", 1, T0, tree_apply, NULL);
    devcare_device_free(r->dev); /* refused: the call in progress holds the handle */
    char msg[256];
    r->freed_code = devcare_last_error(msg, sizeof msg, NULL) == DEVCARE_OK && strstr(msg, "nothing freed") != NULL
                        ? DEVCARE_REENTRANT
                        : DEVCARE_OK;
    uint64_t next = 0;
    r->other_handle = devcare_server_tick(r->srv, T0, &next);
  }
  return 200;
}

int main(void) {
  devcare_server *srv = NULL;
  CHECK(devcare_server_open(NULL, MASTER, &srv));
  char toml[4096], campaign[65];
  snprintf(toml, sizeof toml, CAMPAIGN_TOML, "targets = { all = true }");
  CHECK(devcare_server_create_campaign(srv, toml, strlen(toml), 10, T0, campaign, sizeof campaign));
  uint8_t payload[4096];
  size_t len = 0;
  CHECK(devcare_server_build_payload(srv, campaign, SIGNING_SEED, T0 + 24 * 60 * MIN, T0, payload, sizeof payload, &len));
  uint8_t pk[32], key[32];
  CHECK(devcare_public_key(SIGNING_SEED, pk));
  CHECK(devcare_derive_device_key(MASTER, "IMEI:1", key));
  devcare_device *dev = NULL;
  CHECK(devcare_device_open(NULL, "IMEI:1", NULL, 0, pk, key, &dev));

  struct reentry r = {.dev = dev, .srv = srv};
  CHECK(devcare_device_receive(dev, payload, len, T0, reenter, &r));
  ASSERT(r.calls == 4); /* every setting applied: the outer call went on */
  ASSERT(r.tick == DEVCARE_REENTRANT && r.receive == DEVCARE_REENTRANT);
  ASSERT(r.freed_code == DEVCARE_REENTRANT);
  ASSERT(r.other_handle == DEVCARE_OK);
  /* The handle is intact and usable after the call. */
  uint64_t slot = 0;
  CHECK(devcare_device_tick(dev, T0 + 5 * MIN, &slot));
  ASSERT(slot == 0); /* healthy: all four settings returned 200 */
  ASSERT(strcmp(devcare_result_name(DEVCARE_REENTRANT), "DEVCARE_REENTRANT") == 0);
  devcare_device_free(dev);
  devcare_server_free(srv);
  printf("reentrant: ok\n");
  return 0;
}
