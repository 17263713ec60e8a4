/* virtio_rng: drives ember's virtio-rng device with the polled ring-3 driver (runtime/virtio_dev)
 * and reports what it got. Modes (rng=...):
 *   basic (default): three requests (256 bytes, 64 + 64 bytes in one chain, 16 bytes), each must
 *     come back full; prints "rng: N bytes, M distinct values" and the first 16 bytes; fails if
 *     all bytes are equal or a byte is left at the guest's fill value everywhere.
 *   readable: a chain with a device-readable buffer comes back with 0 bytes, then a good one
 *     still works.
 *   many=N (rng_requests=N): N requests of 64 bytes (for rate-limited runs).
 * Exit status 0 when every check passed, 1 otherwise, 2 for an unknown mode. */
#include "runtime/guest.h"
#include "runtime/virtio_dev.h"

#define VIRTIO_ID_RNG 4

static uint8_t buf_a[256] __attribute__((aligned(64)));
static uint8_t buf_b[128] __attribute__((aligned(64)));
static uint8_t buf_c[16] __attribute__((aligned(64)));
static uint8_t readable[16] __attribute__((aligned(64)));

static struct vdev dev;

static int request(const struct vdev_buf* bufs, unsigned n, uint32_t* len) {
    uint16_t head;
    if (vq_add(&dev, 0, bufs, n) < 0) return -1;
    vq_kick(&dev, 0);
    return vq_wait(&dev, 0, &head, len, 0);
}

static void fill(uint8_t* p, unsigned n, uint8_t v) {
    for (unsigned i = 0; i < n; i++)
        p[i] = v;
}

static int basic(void) {
    fill(buf_a, sizeof buf_a, 0x5a);
    fill(buf_b, sizeof buf_b, 0x5a);
    fill(buf_c, sizeof buf_c, 0x5a);
    struct vdev_buf a = {buf_a, sizeof buf_a, true};
    struct vdev_buf b[2] = {{buf_b, 64, true}, {buf_b + 64, 64, true}};
    struct vdev_buf c = {buf_c, sizeof buf_c, true};
    uint32_t la = 0, lb = 0, lc = 0;
    if (request(&a, 1, &la) || request(b, 2, &lb) || request(&c, 1, &lc)) {
        con_puts("rng: FAIL: a request did not complete\n");
        return 1;
    }
    con_printf("rng: lengths %u %u %u\n", la, lb, lc);
    if (la != sizeof buf_a || lb != sizeof buf_b || lc != sizeof buf_c) {
        con_puts("rng: FAIL: short request\n");
        return 1;
    }
    static bool seen[256];
    unsigned distinct = 0, untouched = 0;
    const uint8_t* all[3] = {buf_a, buf_b, buf_c};
    const unsigned sizes[3] = {sizeof buf_a, sizeof buf_b, sizeof buf_c};
    for (unsigned k = 0; k < 3; k++)
        for (unsigned i = 0; i < sizes[k]; i++) {
            if (!seen[all[k][i]]) distinct++;
            seen[all[k][i]] = true;
            untouched += all[k][i] == 0x5a;
        }
    con_printf("rng: %u bytes, %u distinct values\n", la + lb + lc, distinct);
    con_puts("rng: first bytes");
    for (unsigned i = 0; i < 16; i++)
        con_printf(" %02x", buf_a[i]);
    con_puts("\n");
    /* 400 random bytes: fewer than 64 distinct values or more than 20 equal to the fill byte
     * has a probability far below 2^-100. */
    if (distinct < 64 || untouched > 20) {
        con_puts("rng: FAIL: the bytes do not look random\n");
        return 1;
    }
    return 0;
}

static int refuse_readable(void) {
    fill(buf_c, sizeof buf_c, 0x5a);
    struct vdev_buf bad[2] = {{readable, sizeof readable, false}, {buf_c, sizeof buf_c, true}};
    uint32_t len = 99;
    if (request(bad, 2, &len) != 0) {
        con_puts("rng: FAIL: the readable request did not complete\n");
        return 1;
    }
    con_printf("rng: readable chain returned %u bytes, buffer %s\n", len,
               buf_c[0] == 0x5a && buf_c[15] == 0x5a ? "untouched" : "written");
    struct vdev_buf good = {buf_c, sizeof buf_c, true};
    if (request(&good, 1, &len) != 0 || len != sizeof buf_c) {
        con_puts("rng: FAIL: the device stopped working\n");
        return 1;
    }
    con_printf("rng: next request %u bytes\n", len);
    return vdev_status(&dev) & VIRTIO_CONFIG_S_NEEDS_RESET ? 1 : 0;
}

static int many(uint64_t n) {
    uint64_t total = 0;
    for (uint64_t i = 0; i < n; i++) {
        struct vdev_buf b = {buf_a, 64, true};
        uint32_t len = 0;
        if (request(&b, 1, &len) != 0) {
            con_puts("rng: FAIL: a request did not complete\n");
            return 1;
        }
        total += len;
    }
    con_printf("rng: %lu requests, %lu bytes\n", n, total);
    return total == n * 64 ? 0 : 1;
}

int guest_main(const char* cmd) {
    if (!vdev_find(&dev, cmd, VIRTIO_ID_RNG)) {
        con_puts("rng: no virtio-rng device on the command line\n");
        return 1;
    }
    if (vdev_init(&dev, 1, BIT64(VIRTIO_RING_F_EVENT_IDX)) != 0) return 1;
    con_printf("rng: device at 0x%lx irq %u, features 0x%lx\n", dev.base, dev.irq, dev.features);
    const char* mode;
    size_t len;
    if (!cmdline_get("rng", &mode, &len)) {
        mode = "basic";
        len = 5;
    }
    int rc;
    if (guest_streq(mode, len, "basic"))
        rc = basic();
    else if (guest_streq(mode, len, "readable"))
        rc = refuse_readable();
    else if (guest_streq(mode, len, "many"))
        rc = many(cmdline_get_u64("rng_requests", 100));
    else {
        con_puts("rng: unknown mode\n");
        return 2;
    }
    con_printf("rng: %s (%lu notifies)\n", rc == 0 ? "ok" : "FAIL", dev.q[0].notifies);
    return rc;
}
