/* virtio_net: a tiny IPv4 host on ember's virtio-net device, driven by the polled ring-3 driver
 * (runtime/virtio_dev). It answers ARP requests for its address, ICMP echo requests, and echoes
 * UDP datagrams sent to port 7; a UDP datagram "quit" is answered "bye" and ends the guest with
 * status 0 after printing its counts. Command line:
 *   net_ip=A.B.C.D   its address (default 10.200.0.2)
 *   net_mrg=0        do not negotiate VIRTIO_NET_F_MRG_RXBUF (default: negotiate it)
 *   net=bench        instead: the timed phases of bench/net_bench.cpp (see run_bench below)
 *   frames=N         bench: frames per phase (default 100000)
 *   sizes=A,B,...    bench: frame sizes in bytes, Ethernet header included, 16..1514 (64,1500)
 * Any frame it cannot parse is counted and ignored. Status 1: no device or init failed. */
#include "runtime/guest.h"
#include "runtime/virtio_dev.h"

#define VIRTIO_ID_NET 1
#define VIRTIO_NET_F_MTU 3
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16
#define NET_CFG_MAC 0
#define NET_CFG_STATUS 6
#define NET_CFG_MTU 10
#define HDR 12 /* struct virtio_net_hdr_v1 */
#define RXQ 0
#define TXQ 1
#define NBUF 64
#define BUF_SIZE 2048

static uint8_t rx_buf[NBUF][BUF_SIZE] __attribute__((aligned(64)));
static uint8_t tx_buf[NBUF][BUF_SIZE] __attribute__((aligned(64)));
static uint16_t rx_head_buf[VDEV_QSIZE_MAX]; /* descriptor head -> buffer index */
static uint16_t tx_head_buf[VDEV_QSIZE_MAX];
static uint16_t tx_free[VDEV_QSIZE_MAX];
static unsigned tx_nfree;

static struct vdev dev;
static uint8_t mac[6] = {0x02, 0, 0, 0, 0, 0x01};
static uint8_t ip[4] = {10, 200, 0, 2};
static uint64_t n_arp, n_icmp, n_udp, n_rx, n_tx, n_bad, n_multi;

static uint16_t rd16(const uint8_t* p) {
    return (uint16_t)(p[0] << 8 | p[1]);
}
static void wr16(uint8_t* p, uint16_t v) {
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static void copy(uint8_t* d, const uint8_t* s, unsigned n) {
    for (unsigned i = 0; i < n; i++)
        d[i] = s[i];
}
static bool same(const uint8_t* a, const uint8_t* b, unsigned n) {
    for (unsigned i = 0; i < n; i++)
        if (a[i] != b[i]) return false;
    return true;
}

static uint16_t checksum(const uint8_t* p, unsigned n) {
    uint32_t sum = 0;
    for (unsigned i = 0; i + 1 < n; i += 2)
        sum += rd16(p + i);
    if (n & 1) sum += (uint32_t)p[n - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static void post_rx(unsigned b) {
    struct vdev_buf v = {rx_buf[b], BUF_SIZE, true};
    int head = vq_add(&dev, RXQ, &v, 1);
    if (head >= 0) rx_head_buf[head] = (uint16_t)b;
}

static void reclaim_tx(void) {
    uint16_t head;
    uint32_t len;
    while (vq_poll(&dev, TXQ, &head, &len))
        if (head < VDEV_QSIZE_MAX) tx_free[tx_nfree++] = tx_head_buf[head];
}

/* Sends frame[0..len) (Ethernet header first) behind a zero virtio-net header. */
static void send_frame(const uint8_t* frame, unsigned len) {
    reclaim_tx();
    while (tx_nfree == 0) {
        __asm__ volatile("pause");
        reclaim_tx();
    }
    unsigned b = tx_free[--tx_nfree];
    for (unsigned i = 0; i < HDR; i++)
        tx_buf[b][i] = 0;
    copy(tx_buf[b] + HDR, frame, len);
    struct vdev_buf v = {tx_buf[b], HDR + len, false};
    int head = vq_add(&dev, TXQ, &v, 1);
    if (head < 0) {
        tx_free[tx_nfree++] = (uint16_t)b;
        return;
    }
    tx_head_buf[head] = (uint16_t)b;
    vq_kick(&dev, TXQ);
    n_tx++;
}

static uint8_t out[BUF_SIZE];

static void answer_arp(const uint8_t* f, unsigned len) {
    const uint8_t* a = f + 14;
    if (len < 42 || rd16(a) != 1 || rd16(a + 2) != 0x0800 || a[4] != 6 || a[5] != 4) return;
    if (rd16(a + 6) != 1 || !same(a + 24, ip, 4)) return; /* a request for us */
    copy(out, f + 6, 6);                                  /* to the sender */
    copy(out + 6, mac, 6);
    wr16(out + 12, 0x0806);
    uint8_t* r = out + 14;
    copy(r, a, 6);
    wr16(r + 6, 2); /* reply */
    copy(r + 8, mac, 6);
    copy(r + 14, ip, 4);
    copy(r + 18, a + 8, 10); /* sender mac + ip become the target */
    send_frame(out, 42);
    n_arp++;
}

/* Turns the IPv4 packet in `out` (copied from the request) around: swap addresses and MACs,
 * fresh header checksum. */
static void swap_ipv4(const uint8_t* f, unsigned ihl) {
    copy(out, f + 6, 6);
    copy(out + 6, mac, 6);
    uint8_t* h = out + 14;
    copy(h + 16, f + 14 + 12, 4);
    copy(h + 12, ip, 4);
    h[8] = 64;
    wr16(h + 10, 0);
    wr16(h + 10, checksum(h, ihl));
}

/* True when the datagram was "quit". */
static bool answer_ipv4(const uint8_t* f, unsigned len) {
    const uint8_t* h = f + 14;
    if (len < 34 || (h[0] >> 4) != 4) return false;
    unsigned ihl = (h[0] & 15u) * 4;
    unsigned total = rd16(h + 2);
    if (ihl < 20 || total < ihl || 14 + total > len || !same(h + 16, ip, 4)) return false;
    copy(out, f, 14 + total);
    uint8_t* p = out + 14 + ihl;
    unsigned plen = total - ihl;
    if (h[9] == 1 && plen >= 8 && p[0] == 8) { /* ICMP echo request */
        p[0] = 0;
        wr16(p + 2, 0);
        wr16(p + 2, checksum(p, plen));
        swap_ipv4(f, ihl);
        send_frame(out, 14 + total);
        n_icmp++;
        return false;
    }
    if (h[9] == 17 && plen >= 8 && rd16(p + 2) == 7) { /* UDP to the echo port */
        bool quit = plen == 12 && same(p + 8, (const uint8_t*)"quit", 4);
        uint16_t sport = rd16(p);
        wr16(p, 7);
        wr16(p + 2, sport);
        if (quit) {
            copy(p + 8, (const uint8_t*)"bye!", 4);
        }
        wr16(p + 6, 0); /* no UDP checksum (allowed over IPv4) */
        swap_ipv4(f, ihl);
        send_frame(out, 14 + total);
        n_udp++;
        return quit;
    }
    return false;
}

static bool handle(const uint8_t* buf, uint32_t len) {
    n_rx++;
    if (len < HDR + 14) {
        n_bad++;
        return false;
    }
    if ((buf[10] | buf[11] << 8) != 1) n_multi++; /* num_buffers (le16): 2 KiB buffers fit all */
    const uint8_t* f = buf + HDR;
    unsigned flen = len - HDR;
    uint16_t type = rd16(f + 12);
    if (type == 0x0806) answer_arp(f, flen);
    if (type == 0x0800) return answer_ipv4(f, flen);
    return false;
}

static void parse_ip(void) {
    const char* v;
    size_t len;
    if (!cmdline_get("net_ip", &v, &len)) return;
    unsigned part = 0, value = 0;
    uint8_t got[4];
    for (size_t i = 0; i <= len && part < 4; i++) {
        if (i == len || v[i] == '.') {
            got[part++] = (uint8_t)value;
            value = 0;
        } else {
            value = value * 10 + (unsigned)(v[i] - '0');
        }
    }
    if (part == 4) copy(ip, got, 4);
}

/* ---- bench (bench/net_bench.cpp) -------------------------------------------------------------
 * Per size S: "txS" sends N frames of S bytes (ethertype 0x88b5, broadcast) as fast as the ring
 * takes them, every ring slot in flight, and ends once the device has used them all. "rxS"
 * resets the device (so that no receive buffer is posted), prints "bench: ready rxS" and waits
 * for a byte on the console: meanwhile the host fills the tap's queue (or starts sending). Then it
 * posts every receive buffer and counts the frames of S bytes with that ethertype and a 'D' at
 * byte 15 until one with an 'E' there arrives (the host sends it after its frames). Around each:
 * "bench: begin <phase>" / "bench: end <phase> <frames> <bytes> <notifications>" (the kicks the
 * device asked for in the phase); the host timestamps those.
 * Frames the host loses (a full tap queue) are simply not counted. */
#define BENCH_ETHERTYPE 0x88b5
#define BENCH_MAX_FRAME 1514

static uint8_t bench_rx[VDEV_QSIZE_MAX][BUF_SIZE] __attribute__((aligned(64)));
static uint8_t bench_tx[VDEV_QSIZE_MAX][BUF_SIZE] __attribute__((aligned(64)));

/* The marker lines: flush, then one port read so that ember replays its coalesced serial writes
 * now rather than at the next exit or drain tick (as virtio_blk does). */
static void marker_flush(void) {
    con_flush();
    uint8_t lsr;
    __asm__ volatile("inb %1, %0" : "=a"(lsr) : "Nd"((uint16_t)0x3fd));
    (void)lsr;
}

static void bench_post_rx(unsigned b) {
    struct vdev_buf v = {bench_rx[b], BUF_SIZE, true};
    int head = vq_add(&dev, RXQ, &v, 1);
    if (head >= 0) rx_head_buf[head] = (uint16_t)b;
}

static int bench_tx_phase(unsigned size, uint64_t n) {
    unsigned slots = dev.q[TXQ].size;
    for (unsigned b = 0; b < slots; b++) {
        uint8_t* p = bench_tx[b];
        for (unsigned i = 0; i < HDR + size; i++)
            p[i] = (uint8_t)i;
        for (unsigned i = 0; i < HDR; i++)
            p[i] = 0;
        for (unsigned i = 0; i < 6; i++)
            p[HDR + i] = 0xff;
        copy(p + HDR + 6, mac, 6);
        wr16(p + HDR + 12, BENCH_ETHERTYPE);
        p[HDR + 14] = 'T';
        tx_free[b] = (uint16_t)b;
    }
    unsigned nfree = slots;
    uint64_t sent = 0, done = 0, idle = 0, notifies = dev.q[TXQ].notifies;
    con_printf("bench: begin tx%u\n", size);
    marker_flush();
    while (done < n) {
        while (sent < n && nfree > 0) {
            unsigned b = tx_free[--nfree];
            struct vdev_buf v = {bench_tx[b], HDR + size, false};
            int head = vq_add(&dev, TXQ, &v, 1);
            if (head < 0) {
                nfree++;
                break;
            }
            tx_head_buf[head] = (uint16_t)b;
            sent++;
        }
        vq_kick(&dev, TXQ);
        uint16_t head;
        uint32_t len;
        bool any = false;
        while (vq_poll(&dev, TXQ, &head, &len)) {
            if (head >= VDEV_QSIZE_MAX) {
                con_puts("bench: FAIL: the device returned a bad head\n");
                return 1;
            }
            tx_free[nfree++] = tx_head_buf[head];
            done++;
            any = true;
        }
        if (any) {
            idle = 0;
        } else if (++idle % 0x100000 == 0 && (vdev_status(&dev) & VIRTIO_CONFIG_S_NEEDS_RESET)) {
            con_puts("bench: FAIL: the device needs a reset\n");
            return 1;
        } else {
            __asm__ volatile("pause");
        }
    }
    con_printf("bench: end tx%u %lu %lu %lu\n", size, n, n * size, dev.q[TXQ].notifies - notifies);
    marker_flush();
    return 0;
}

static int bench_rx_phase(unsigned size, uint64_t mask) {
    if (vdev_init(&dev, 2, mask) != 0) return 1;
    con_printf("bench: ready rx%u\n", size);
    con_flush();
    (void)con_getc();
    uint64_t frames = 0, idle = 0;
    bool end = false;
    con_printf("bench: begin rx%u\n", size);
    marker_flush();
    uint64_t notifies = dev.q[RXQ].notifies;
    for (unsigned b = 0; b < dev.q[RXQ].size; b++)
        bench_post_rx(b);
    vq_kick(&dev, RXQ);
    while (!end) {
        uint16_t head;
        uint32_t len;
        bool any = false;
        while (vq_poll(&dev, RXQ, &head, &len)) {
            if (head >= VDEV_QSIZE_MAX) {
                con_puts("bench: FAIL: the device returned a bad head\n");
                return 1;
            }
            unsigned b = rx_head_buf[head];
            const uint8_t* f = bench_rx[b] + HDR;
            if (len == HDR + size && rd16(f + 12) == BENCH_ETHERTYPE) {
                if (f[15] == 'D') frames++;
                if (f[15] == 'E') end = true;
            }
            bench_post_rx(b);
            any = true;
        }
        if (any) {
            vq_kick(&dev, RXQ);
            idle = 0;
        } else if (++idle % 0x100000 == 0 && (vdev_status(&dev) & VIRTIO_CONFIG_S_NEEDS_RESET)) {
            con_puts("bench: FAIL: the device needs a reset\n");
            return 1;
        } else {
            __asm__ volatile("pause");
        }
    }
    con_printf("bench: end rx%u %lu %lu %lu\n", size, frames, frames * size,
               dev.q[RXQ].notifies - notifies);
    marker_flush();
    return 0;
}

static int run_bench(uint64_t mask) {
    uint64_t n = cmdline_get_u64("frames", 100000);
    unsigned sizes[8] = {64, 1500};
    unsigned nsizes = 2;
    const char* v;
    size_t len;
    if (cmdline_get("sizes", &v, &len)) {
        nsizes = 0;
        unsigned value = 0;
        for (size_t i = 0; i <= len && nsizes < 8; i++) {
            if (i == len || v[i] == ',') {
                sizes[nsizes++] = value;
                value = 0;
            } else {
                value = value * 10 + (unsigned)(v[i] - '0');
            }
        }
    }
    for (unsigned i = 0; i < nsizes; i++)
        if (sizes[i] < 16 || sizes[i] > BENCH_MAX_FRAME) {
            con_printf("bench: frame size %u is outside 16..%u\n", sizes[i], BENCH_MAX_FRAME);
            return 2;
        }
    for (unsigned i = 0; i < nsizes; i++)
        if (bench_tx_phase(sizes[i], n) != 0) return 1;
    for (unsigned i = 0; i < nsizes; i++)
        if (bench_rx_phase(sizes[i], mask) != 0) return 1;
    con_printf("bench: done (%lu tx and %lu rx notifications)\n", dev.q[TXQ].notifies,
               dev.q[RXQ].notifies);
    marker_flush();
    return 0;
}

int guest_main(const char* cmd) {
    if (!vdev_find(&dev, cmd, VIRTIO_ID_NET)) {
        con_puts("net: no virtio-net device on the command line\n");
        return 1;
    }
    parse_ip();
    uint64_t mask = BIT64(VIRTIO_RING_F_EVENT_IDX) | BIT64(VIRTIO_NET_F_MAC) |
                    BIT64(VIRTIO_NET_F_MTU) | BIT64(VIRTIO_NET_F_STATUS);
    if (cmdline_get_u64("net_mrg", 1) != 0) mask |= BIT64(VIRTIO_NET_F_MRG_RXBUF);
    if (vdev_init(&dev, 2, mask) != 0) return 1;
    if (vdev_has(&dev, VIRTIO_NET_F_MAC))
        for (unsigned i = 0; i < 6; i++)
            mac[i] = vdev_cfg8(&dev, NET_CFG_MAC + i);
    con_printf("net: device at 0x%lx irq %u, features 0x%lx, mac %02x:%02x:%02x:%02x:%02x:%02x, "
               "mtu %u, link %s, ip %u.%u.%u.%u\n",
               dev.base, dev.irq, dev.features, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5],
               vdev_has(&dev, VIRTIO_NET_F_MTU) ? vdev_cfg16(&dev, NET_CFG_MTU) : 0,
               vdev_has(&dev, VIRTIO_NET_F_STATUS) && (vdev_cfg16(&dev, NET_CFG_STATUS) & 1)
                   ? "up"
                   : "down",
               ip[0], ip[1], ip[2], ip[3]);
    const char* mode;
    size_t mode_len;
    if (cmdline_get("net", &mode, &mode_len)) {
        if (guest_streq(mode, mode_len, "bench")) return run_bench(mask);
        con_puts("net: unknown mode (net=bench, or none for the echo host)\n");
        return 2;
    }
    for (unsigned b = 0; b < NBUF; b++) {
        post_rx(b);
        tx_free[tx_nfree++] = (uint16_t)b;
    }
    vq_kick(&dev, RXQ);
    con_puts("net: ready\n");
    for (;;) {
        uint16_t head;
        uint32_t len;
        if (!vq_poll(&dev, RXQ, &head, &len)) {
            if (vdev_status(&dev) & VIRTIO_CONFIG_S_NEEDS_RESET) {
                con_puts("net: FAIL: the device needs a reset\n");
                return 1;
            }
            for (unsigned i = 0; i < 64; i++)
                __asm__ volatile("pause");
            continue;
        }
        if (head >= VDEV_QSIZE_MAX) {
            con_puts("net: FAIL: the device returned a bad head\n");
            return 1;
        }
        unsigned b = rx_head_buf[head];
        bool quit = handle(rx_buf[b], len);
        post_rx(b);
        vq_kick(&dev, RXQ);
        if (quit) break;
    }
    /* Let the last reply leave: a throttled device may hold it a while (bounded: seconds). */
    for (uint64_t i = 0; i < (1ull << 28) && tx_nfree < NBUF; i++) {
        reclaim_tx();
        __asm__ volatile("pause");
    }
    con_printf("net: arp %lu icmp %lu udp %lu, rx %lu tx %lu, bad %lu, multi-buffer %lu\n", n_arp,
               n_icmp, n_udp, n_rx, n_tx, n_bad, n_multi);
    return n_bad == 0 && n_multi == 0 ? 0 : 1;
}
