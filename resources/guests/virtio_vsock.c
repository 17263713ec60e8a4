/* virtio_vsock: stream sockets over ember's virtio-vsock device, driven by the polled ring-3
 * driver (runtime/virtio_dev). A minimal AF_VSOCK stack: credit-based flow control (virtio 1.2,
 * 5.10.6.3), REQUEST/RESPONSE, RW, SHUTDOWN, RST, CREDIT_UPDATE/REQUEST. Command line:
 *   vsock_listen=P     echo server on guest port P (default 1234): every stream the host opens
 *                      is echoed back byte for byte until the host closes it
 *   vsock_expect=N     exit once N host streams have been served and closed (default 0)
 *   vsock_host=P       also connect to host port P (ember: <uds_path>_P), send vsock_bytes bytes
 *                      of a pattern, check that the same bytes come back, then shut down
 *   vsock_bytes=N      (default 65536)
 *   vsock_refused=P    first connect to host port P, where nothing listens: must get RST
 * Prints "vsock: listening on port P" when ready for host connections, one line per finished
 * stream, and "vsock: done ..." before exiting with 0; any protocol surprise prints FAIL and
 * exits 1. */
#include "runtime/guest.h"
#include "runtime/virtio_dev.h"

#define VIRTIO_ID_VSOCK 19
#define RXQ 0
#define TXQ 1
#define EVQ 2
#define HDR 44
#define CHUNK 4096
#define NRX 64
#define NTX 64
#define NEV 4
#define MAX_STREAMS 8
#define GUEST_BUF (64 * 1024) /* our buf_alloc per stream */
#define HOST_CID 2
#define CLIENT_PORT 4000

enum { OP_REQUEST = 1, OP_RESPONSE, OP_RST, OP_SHUTDOWN, OP_RW, OP_CREDIT_UPDATE, OP_CREDIT_REQ };
enum { ST_FREE, ST_CONNECTING, ST_OPEN, ST_CLOSING };

struct hdr {
    uint64_t src_cid, dst_cid;
    uint32_t src_port, dst_port, len;
    uint16_t type, op;
    uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));
_Static_assert(sizeof(struct hdr) == HDR, "virtio_vsock_hdr");

struct stream {
    int state;
    bool client;
    uint32_t local, peer;
    uint32_t peer_buf_alloc, peer_fwd_cnt; /* the host's credit */
    uint32_t tx_cnt;                       /* bytes we sent */
    uint32_t fwd_cnt, fwd_sent;            /* bytes we consumed; last fwd_cnt the host heard */
    /* server: bytes received, not yet echoed (a ring of GUEST_BUF bytes) */
    uint32_t pend_off, pend_len;
    uint64_t total;
    /* client: bytes sent and checked */
    uint64_t sent, checked;
};

static uint8_t rx_hdr[NRX][HDR] __attribute__((aligned(64)));
static uint8_t rx_data[NRX][CHUNK] __attribute__((aligned(64)));
static uint8_t tx_buf[NTX][HDR + CHUNK] __attribute__((aligned(64)));
static uint8_t ev_buf[NEV][8] __attribute__((aligned(8)));
static uint8_t pend[MAX_STREAMS][GUEST_BUF];
static int16_t rx_slot[VDEV_QSIZE_MAX]; /* rx head -> slot */
static int16_t tx_slot[VDEV_QSIZE_MAX];
static uint16_t tx_free[NTX];
static unsigned tx_nfree;

static struct vdev dev;
static struct stream streams[MAX_STREAMS];
static uint64_t my_cid;
static uint32_t listen_port;
static uint64_t client_bytes;
static unsigned served, expect;
static bool client_done = true, refused_done = true;
static uint32_t refused_port;

static _Noreturn void fail(const char* what, uint64_t value) {
    con_printf("vsock: FAIL: %s (%lu)\n", what, (unsigned long)value);
    guest_exit(1);
}

static uint8_t pattern(uint64_t i) {
    return (uint8_t)((i * 131) ^ (i >> 9));
}

static void post_rx(unsigned slot) {
    struct vdev_buf b[2] = {{rx_hdr[slot], HDR, true}, {rx_data[slot], CHUNK, true}};
    int head = vq_add(&dev, RXQ, b, 2);
    if (head < 0) fail("receive ring full", slot);
    rx_slot[head] = (int16_t)slot;
}

static void reclaim_tx(void) {
    uint16_t head;
    uint32_t len;
    while (vq_poll(&dev, TXQ, &head, &len)) {
        if (head >= VDEV_QSIZE_MAX || tx_slot[head] < 0) fail("bad transmit head", head);
        tx_free[tx_nfree++] = (uint16_t)tx_slot[head];
        tx_slot[head] = -1;
    }
}

/* Sends one packet; `data` may be NULL with len 0. */
static void send_pkt(struct stream* s, uint32_t local, uint32_t peer, uint16_t op, uint32_t flags,
                     const uint8_t* data, uint32_t len) {
    uint64_t spins = 0;
    while (tx_nfree == 0) {
        reclaim_tx();
        if (++spins > 2000000000ULL) fail("transmit ring never drained", 0);
    }
    unsigned slot = tx_free[--tx_nfree];
    struct hdr* h = (struct hdr*)tx_buf[slot];
    h->src_cid = my_cid;
    h->dst_cid = HOST_CID;
    h->src_port = local;
    h->dst_port = peer;
    h->len = len;
    h->type = 1; /* STREAM */
    h->op = op;
    h->flags = flags;
    h->buf_alloc = GUEST_BUF;
    h->fwd_cnt = s ? s->fwd_cnt : 0;
    if (s) s->fwd_sent = s->fwd_cnt;
    for (uint32_t i = 0; i < len; i++)
        tx_buf[slot][HDR + i] = data[i];
    struct vdev_buf b[2] = {{tx_buf[slot], HDR, false}, {tx_buf[slot] + HDR, len, false}};
    int head = vq_add(&dev, TXQ, b, len ? 2 : 1);
    if (head < 0) fail("transmit ring full", slot);
    tx_slot[head] = (int16_t)slot;
    vq_kick(&dev, TXQ);
}

static void send_op(struct stream* s, uint16_t op, uint32_t flags) {
    send_pkt(s, s->local, s->peer, op, flags, 0, 0);
}

static uint32_t credit(const struct stream* s) {
    uint32_t in_flight = s->tx_cnt - s->peer_fwd_cnt;
    return in_flight >= s->peer_buf_alloc ? 0 : s->peer_buf_alloc - in_flight;
}

static struct stream* find(uint32_t local, uint32_t peer) {
    for (unsigned i = 0; i < MAX_STREAMS; i++)
        if (streams[i].state != ST_FREE && streams[i].local == local && streams[i].peer == peer)
            return &streams[i];
    return 0;
}

static struct stream* alloc_stream(uint32_t local, uint32_t peer) {
    for (unsigned i = 0; i < MAX_STREAMS; i++)
        if (streams[i].state == ST_FREE) {
            struct stream* s = &streams[i];
            *s = (struct stream){.state = ST_OPEN, .local = local, .peer = peer};
            return s;
        }
    return 0;
}

static unsigned index_of(const struct stream* s) {
    return (unsigned)(s - streams);
}

/* Server: echo what is pending, as far as the host's credit allows. */
static void flush_echo(struct stream* s) {
    uint8_t* ring = pend[index_of(s)];
    while (s->pend_len > 0 && s->state == ST_OPEN) {
        uint32_t n = s->pend_len;
        if (n > CHUNK) n = CHUNK;
        if (n > GUEST_BUF - s->pend_off) n = GUEST_BUF - s->pend_off;
        uint32_t c = credit(s);
        if (c == 0) return;
        if (n > c) n = c;
        s->fwd_cnt += n; /* consumed from our buffer once sent on */
        send_pkt(s, s->local, s->peer, OP_RW, 0, ring + s->pend_off, n);
        s->tx_cnt += n;
        s->pend_off = (s->pend_off + n) % GUEST_BUF;
        s->pend_len -= n;
    }
}

/* Client: send more of the pattern while there is credit. */
static void client_send(struct stream* s) {
    static uint8_t chunk[CHUNK];
    while (s->state == ST_OPEN && s->sent < client_bytes) {
        uint32_t n = CHUNK;
        if (client_bytes - s->sent < n) n = (uint32_t)(client_bytes - s->sent);
        uint32_t c = credit(s);
        if (c == 0) return;
        if (n > c) n = c;
        for (uint32_t i = 0; i < n; i++)
            chunk[i] = pattern(s->sent + i);
        send_pkt(s, s->local, s->peer, OP_RW, 0, chunk, n);
        s->tx_cnt += n;
        s->sent += n;
    }
}

static void on_rw(struct stream* s, const uint8_t* data, uint32_t len) {
    if (s->client) {
        for (uint32_t i = 0; i < len; i++)
            if (data[i] != pattern(s->checked + i)) fail("echoed byte differs at", s->checked + i);
        s->checked += len;
        s->fwd_cnt += len;
        if (s->checked > client_bytes) fail("more bytes echoed than sent", s->checked);
        if (s->checked == client_bytes) {
            con_printf("vsock: guest->host port %u: %lu bytes echoed intact\n", s->peer,
                       (unsigned long)s->checked);
            send_op(s, OP_SHUTDOWN, 3);
            s->state = ST_CLOSING; /* the host answers with RST */
            return;
        }
        client_send(s); /* the packet carried the host's latest credit */
        if (s->fwd_cnt - s->fwd_sent >= GUEST_BUF / 4) send_op(s, OP_CREDIT_UPDATE, 0);
        return;
    }
    if (s->pend_len + len > GUEST_BUF) fail("the host sent past our credit", s->pend_len + len);
    uint8_t* ring = pend[index_of(s)];
    for (uint32_t i = 0; i < len; i++)
        ring[(s->pend_off + s->pend_len + i) % GUEST_BUF] = data[i];
    s->pend_len += len;
    s->total += len;
    flush_echo(s);
}

static void finish_server(struct stream* s, const char* how) {
    con_printf("vsock: host stream %u -> port %u: %lu bytes echoed, %s\n", s->peer, s->local,
               (unsigned long)s->total, how);
    s->state = ST_FREE;
    served++;
}

static void on_packet(const struct hdr* h, const uint8_t* data, uint32_t used_len) {
    struct hdr c = *h; /* a copy: the fields of a packed struct */
    if (used_len < HDR || c.len > CHUNK || used_len != HDR + c.len)
        fail("bad used length", used_len);
    if (c.src_cid != HOST_CID || c.dst_cid != my_cid || c.type != 1) fail("bad header", c.op);
    struct stream* s = find(c.dst_port, c.src_port);
    if (s) {
        s->peer_buf_alloc = c.buf_alloc;
        s->peer_fwd_cnt = c.fwd_cnt;
    }
    switch (c.op) {
    case OP_REQUEST:
        if (s || c.dst_port != listen_port) {
            send_pkt(0, c.dst_port, c.src_port, OP_RST, 0, 0, 0);
            return;
        }
        s = alloc_stream(c.dst_port, c.src_port);
        if (!s) {
            send_pkt(0, c.dst_port, c.src_port, OP_RST, 0, 0, 0);
            return;
        }
        s->peer_buf_alloc = c.buf_alloc;
        s->peer_fwd_cnt = c.fwd_cnt;
        send_op(s, OP_RESPONSE, 0);
        return;
    case OP_RESPONSE:
        if (!s || s->state != ST_CONNECTING) fail("unexpected RESPONSE from port", c.src_port);
        s->state = ST_OPEN;
        con_printf("vsock: connected to host port %u\n", s->peer);
        client_send(s);
        return;
    case OP_RW:
        if (!s) fail("data for no stream, port", c.dst_port);
        on_rw(s, data, c.len);
        return;
    case OP_CREDIT_UPDATE:
        if (s && s->client) client_send(s);
        if (s && !s->client) flush_echo(s);
        return;
    case OP_CREDIT_REQ:
        if (s) send_op(s, OP_CREDIT_UPDATE, 0);
        return;
    case OP_SHUTDOWN:
        if (!s) return;
        if (s->client) fail("the host shut the client stream down early, port", s->peer);
        if (s->pend_len != 0) fail("the host closed with echo pending", s->pend_len);
        send_op(s, OP_RST, 0);
        finish_server(s, "closed by the host");
        return;
    case OP_RST:
        if (c.dst_port == CLIENT_PORT + 1 && !refused_done && c.src_port == refused_port) {
            con_printf("vsock: connect to host port %u refused (RST)\n", refused_port);
            refused_done = true;
            return;
        }
        if (!s) return;
        if (s->client) {
            if (s->state != ST_CLOSING) fail("client stream reset by the host, port", s->peer);
            s->state = ST_FREE;
            client_done = true;
            return;
        }
        finish_server(s, "reset by the host");
        return;
    default:
        fail("unknown op", c.op);
    }
}

int guest_main(const char* cmd) {
    if (!vdev_find(&dev, cmd, VIRTIO_ID_VSOCK)) {
        con_puts("vsock: FAIL: no virtio-vsock device on the command line\n");
        return 1;
    }
    con_printf("vsock: device at 0x%lx irq %u\n", (unsigned long)dev.base, dev.irq);
    if (vdev_init(&dev, 3, BIT64(VIRTIO_RING_F_EVENT_IDX)) != 0) return 1;
    for (unsigned i = 0; i < 8; i++)
        my_cid |= (uint64_t)vdev_cfg8(&dev, i) << (8 * i);
    con_printf("vsock: guest cid %lu\n", (unsigned long)my_cid);
    listen_port = (uint32_t)cmdline_get_u64("vsock_listen", 1234);
    expect = (unsigned)cmdline_get_u64("vsock_expect", 0);
    client_bytes = cmdline_get_u64("vsock_bytes", 65536);
    const uint32_t host_port = (uint32_t)cmdline_get_u64("vsock_host", 0);
    refused_port = (uint32_t)cmdline_get_u64("vsock_refused", 0);

    for (unsigned i = 0; i < VDEV_QSIZE_MAX; i++)
        rx_slot[i] = tx_slot[i] = -1;
    for (unsigned i = 0; i < NTX; i++)
        tx_free[tx_nfree++] = (uint16_t)i;
    for (unsigned i = 0; i < NRX; i++)
        post_rx(i);
    vq_kick(&dev, RXQ);
    for (unsigned i = 0; i < NEV; i++) {
        struct vdev_buf b = {ev_buf[i], sizeof ev_buf[i], true};
        if (vq_add(&dev, EVQ, &b, 1) < 0) fail("event ring full", i);
    }
    vq_kick(&dev, EVQ);

    if (refused_port) {
        refused_done = false;
        send_pkt(0, CLIENT_PORT + 1, refused_port, OP_REQUEST, 0, 0, 0);
    }
    if (host_port) {
        struct stream* s = alloc_stream(CLIENT_PORT, host_port);
        s->state = ST_CONNECTING;
        s->client = true;
        client_done = false;
        send_op(s, OP_REQUEST, 0);
    }
    con_printf("vsock: listening on port %u\n", listen_port);

    uint64_t idle = 0;
    while (!(client_done && refused_done && served >= expect)) {
        uint16_t head;
        uint32_t len;
        reclaim_tx();
        if (!vq_poll(&dev, RXQ, &head, &len)) {
            /* Status is an MMIO read (an exit): look only now and then. */
            if ((++idle & 0xfffff) == 0 && (vdev_status(&dev) & VIRTIO_CONFIG_S_NEEDS_RESET))
                fail("the device needs a reset", vdev_status(&dev));
            continue;
        }
        if (head >= VDEV_QSIZE_MAX || rx_slot[head] < 0) fail("bad receive head", head);
        const unsigned slot = (unsigned)rx_slot[head];
        rx_slot[head] = -1;
        on_packet((const struct hdr*)rx_hdr[slot], rx_data[slot], len);
        post_rx(slot);
        vq_kick(&dev, RXQ);
    }
    con_printf("vsock: done: %u host streams served, client %s\n", served,
               host_port ? "ok" : "off");
    return 0;
}
