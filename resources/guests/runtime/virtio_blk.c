/* A polled virtio-blk driver (virtio_blk.h): virtio-mmio v2 init, one split virtqueue in
 * static memory, requests as header / data / status chains or one indirect table. */
#include "virtio_blk.h"

#include "guest.h"

#define PAGE_SIZE 4096
#define NO_NEXT 0xffff

/* Per-device memory: the three ring parts on their own pages, then the driver's bookkeeping. The
 * device sees only desc, avail, used, the request headers and status bytes, and the tables. */
struct vblk_req_slot {
    struct vblk_outhdr hdr; /* device-readable */
    uint8_t status;         /* device-writable */
    uint8_t pad[15];
};

struct vblk_mem {
    struct vq_desc desc[VBLK_QSIZE_MAX];
    uint16_t avail[PAGE_SIZE / 2];
    uint16_t used[PAGE_SIZE / 2];
    struct vq_desc scratch[2 * VBLK_QSIZE_MAX];
    struct vq_desc indirect[VBLK_QSIZE_MAX][VBLK_INDIRECT_MAX];
    struct vblk_req_slot req[VBLK_QSIZE_MAX];
    uint16_t free_next[VBLK_QSIZE_MAX];
    uint16_t chain_len[VBLK_QSIZE_MAX];
};
_Static_assert(sizeof(struct vq_desc) * VBLK_QSIZE_MAX == PAGE_SIZE, "descriptor table: a page");
_Static_assert(6 + 8 * VBLK_QSIZE_MAX <= PAGE_SIZE, "used ring: a page");

static struct vblk_mem vblk_mem[VBLK_MAX_DEVS] __attribute__((aligned(PAGE_SIZE)));

#define barrier() __asm__ volatile("" ::: "memory")
/* A store followed by a load of another location needs a full fence even on x86 (TSO). */
#define full_fence() __asm__ volatile("mfence" ::: "memory")

uint32_t vmmio_read32(uint64_t base, uint32_t off) {
    // Safety: the 3-4 GiB MMIO gap is identity-mapped, uncached and user-accessible.
    return *(volatile uint32_t*)(uintptr_t)(base + off);
}

void vmmio_write32(uint64_t base, uint32_t off, uint32_t value) {
    *(volatile uint32_t*)(uintptr_t)(base + off) = value;
}

uint32_t vblk_status(const struct vblk* d) {
    return vmmio_read32(d->base, VIRTIO_MMIO_STATUS);
}

static void set_status(struct vblk* d, uint32_t bits) {
    vmmio_write32(d->base, VIRTIO_MMIO_STATUS, vblk_status(d) | bits);
}

void vblk_reset(struct vblk* d) {
    vmmio_write32(d->base, VIRTIO_MMIO_STATUS, 0);
    for (unsigned i = 0; i < 1000000 && vblk_status(d) != 0; i++)
        __asm__ volatile("pause");
}

/* ---- Command line ---------------------------------------------------------------------------- */

static int digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return 99;
}

/* strtoull with base 0: 0x-hex, 0-octal, decimal. False when no digit was read. */
static bool parse_number(const char** p, const char* end, uint64_t* out) {
    const char* s = *p;
    unsigned base = 10;
    if (end - s > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && digit(s[2]) < 16) {
        base = 16;
        s += 2;
    } else if (end - s > 1 && s[0] == '0') {
        base = 8;
    }
    const char* first = s;
    uint64_t v = 0;
    while (s < end && (unsigned)digit(*s) < base)
        v = v * base + (uint64_t)digit(*s++);
    if (s == first) return false;
    *out = v;
    *p = s;
    return true;
}

static bool parse_window(const char* s, const char* end, struct vmmio_window* w) {
    uint64_t size, base, irq;
    if (!parse_number(&s, end, &size)) return false;
    if (s < end) { /* memparse's suffixes */
        unsigned shift = 0;
        switch (*s) {
        case 'k':
        case 'K':
            shift = 10;
            break;
        case 'm':
        case 'M':
            shift = 20;
            break;
        case 'g':
        case 'G':
            shift = 30;
            break;
        default:
            break;
        }
        if (shift != 0) {
            size <<= shift;
            s++;
        }
    }
    if (s >= end || *s++ != '@' || !parse_number(&s, end, &base)) return false;
    if (s >= end || *s++ != ':' || !parse_number(&s, end, &irq)) return false;
    if (s < end) { /* an optional platform device id */
        uint64_t id;
        if (*s++ != ':' || !parse_number(&s, end, &id) || s != end) return false;
    }
    w->base = base;
    w->size = size;
    w->irq = (uint32_t)irq;
    return size != 0;
}

unsigned vmmio_find_windows(const char* cmd, struct vmmio_window* out, unsigned max) {
    static const char key[] = "virtio_mmio.device=";
    const size_t key_len = sizeof(key) - 1;
    unsigned n = 0;
    const char* p = cmd;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        const char* word = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n')
            p++;
        size_t len = (size_t)(p - word);
        bool match = len > key_len;
        for (size_t i = 0; match && i < key_len; i++)
            match = word[i] == key[i];
        if (!match) continue;
        struct vmmio_window w;
        if (!parse_window(word + key_len, p, &w)) {
            con_puts("blk: ignoring malformed '");
            con_write(word, len);
            con_puts("' (expected virtio_mmio.device=<size>@<base>:<irq>[:<id>])\n");
            continue;
        }
        if (n < max) out[n++] = w;
    }
    return n;
}

/* ---- Init ------------------------------------------------------------------------------------ */

static uint32_t cfg32(const struct vblk* d, uint32_t off) {
    return vmmio_read32(d->base, VIRTIO_MMIO_CONFIG + off);
}

static uint64_t cfg64(const struct vblk* d, uint32_t off) {
    uint32_t gen, lo, hi;
    do { /* a 64-bit field is two reads: retry if the device changed it in between */
        gen = vmmio_read32(d->base, VIRTIO_MMIO_CONFIG_GENERATION);
        lo = cfg32(d, off);
        hi = cfg32(d, off + 4);
    } while (gen != vmmio_read32(d->base, VIRTIO_MMIO_CONFIG_GENERATION));
    return (uint64_t)hi << 32 | lo;
}

static void write_addr(struct vblk* d, uint32_t low_reg, const volatile void* p) {
    uint64_t a = (uint64_t)(uintptr_t)p; /* identity map: virtual = physical */
    vmmio_write32(d->base, low_reg, (uint32_t)a);
    vmmio_write32(d->base, low_reg + 4, (uint32_t)(a >> 32));
}

static int fail(const struct vblk* d, const char* why, uint64_t value) {
    con_printf("blk: dev %u at 0x%lx: %s (0x%lx)\n", d->index, d->base, why, value);
    return -1;
}

static void reset_ring(struct vblk* d) {
    struct vblk_mem* m = &vblk_mem[d->index];
    uint8_t* p = (uint8_t*)m;
    for (size_t i = 0; i < sizeof(*m); i++) /* ring pages and bookkeeping: a clean slate */
        p[i] = 0;
    d->desc = m->desc;
    d->avail = m->avail;
    d->used = m->used;
    d->avail_idx = d->kicked_idx = d->last_used = 0;
    d->in_flight = 0;
    d->free_head = 0;
    d->num_free = d->qsize;
    for (uint16_t i = 0; i < d->qsize; i++)
        m->free_next[i] = (uint16_t)(i + 1 < d->qsize ? i + 1 : NO_NEXT);
}

static int negotiate(struct vblk* d) {
    vmmio_write32(d->base, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    uint64_t lo = vmmio_read32(d->base, VIRTIO_MMIO_DEVICE_FEATURES);
    vmmio_write32(d->base, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    uint64_t hi = vmmio_read32(d->base, VIRTIO_MMIO_DEVICE_FEATURES);
    d->offered = hi << 32 | lo;
    if (!(d->offered & BIT64(VIRTIO_F_VERSION_1)))
        return fail(d, "device does not offer VIRTIO_F_VERSION_1", d->offered);
    d->features = d->offered & d->mask;
    vmmio_write32(d->base, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    vmmio_write32(d->base, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)d->features);
    vmmio_write32(d->base, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    vmmio_write32(d->base, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(d->features >> 32));
    set_status(d, VIRTIO_CONFIG_S_FEATURES_OK);
    uint32_t status = vblk_status(d);
    if (!(status & VIRTIO_CONFIG_S_FEATURES_OK))
        return fail(d, "FEATURES_OK did not stick", status);
    return 0;
}

static int setup_queue(struct vblk* d) {
    vmmio_write32(d->base, VIRTIO_MMIO_QUEUE_SEL, 0);
    if (vmmio_read32(d->base, VIRTIO_MMIO_QUEUE_READY) != 0)
        return fail(d, "queue 0 is ready before setup", 1);
    d->queue_num_max = vmmio_read32(d->base, VIRTIO_MMIO_QUEUE_NUM_MAX);
    if (d->queue_num_max == 0) return fail(d, "queue 0 does not exist (QueueNumMax 0)", 0);
    uint16_t q = VBLK_QSIZE_MAX;
    while (q > d->queue_num_max)
        q >>= 1;
    d->qsize = q;
    reset_ring(d);
    vmmio_write32(d->base, VIRTIO_MMIO_QUEUE_NUM, q);
    write_addr(d, VIRTIO_MMIO_QUEUE_DESC_LOW, d->desc);
    write_addr(d, VIRTIO_MMIO_QUEUE_AVAIL_LOW, d->avail);
    write_addr(d, VIRTIO_MMIO_QUEUE_USED_LOW, d->used);
    vmmio_write32(d->base, VIRTIO_MMIO_QUEUE_READY, 1);
    if (vmmio_read32(d->base, VIRTIO_MMIO_QUEUE_READY) != 1)
        return fail(d, "QueueReady did not stick", 0);
    /* No interrupts: NO_INTERRUPT without EVENT_IDX; with it, used_event far ahead (vblk_poll
     * keeps it there). */
    d->avail[0] = vblk_has(d, VIRTIO_RING_F_EVENT_IDX) ? 0 : VRING_AVAIL_F_NO_INTERRUPT;
    d->avail[2 + d->qsize] = 0x8000;
    return 0;
}

int vblk_init(struct vblk* d) {
    if (d->index >= VBLK_MAX_DEVS) return fail(d, "too many devices", d->index);
    uint32_t magic = vmmio_read32(d->base, VIRTIO_MMIO_MAGIC_VALUE);
    if (magic != VIRTIO_MMIO_MAGIC) return fail(d, "bad MagicValue", magic);
    d->version = vmmio_read32(d->base, VIRTIO_MMIO_VERSION);
    if (d->version != 2)
        return fail(d, "virtio-mmio version is not 2 (legacy device?)", d->version);
    d->device_id = vmmio_read32(d->base, VIRTIO_MMIO_DEVICE_ID);
    d->vendor_id = vmmio_read32(d->base, VIRTIO_MMIO_VENDOR_ID);
    if (d->device_id != VIRTIO_ID_BLOCK) return fail(d, "not a block device", d->device_id);
    vblk_reset(d);
    if (vblk_status(d) != 0) return fail(d, "Status is not 0 after reset", vblk_status(d));
    set_status(d, VIRTIO_CONFIG_S_ACKNOWLEDGE);
    set_status(d, VIRTIO_CONFIG_S_DRIVER);
    if (negotiate(d) != 0 || setup_queue(d) != 0) {
        set_status(d, VIRTIO_CONFIG_S_FAILED);
        return -1;
    }
    d->capacity = cfg64(d, VIRTIO_BLK_CFG_CAPACITY);
    d->seg_max = vblk_has(d, VIRTIO_BLK_F_SEG_MAX) ? cfg32(d, VIRTIO_BLK_CFG_SEG_MAX) : 0;
    d->size_max = vblk_has(d, VIRTIO_BLK_F_SIZE_MAX) ? cfg32(d, VIRTIO_BLK_CFG_SIZE_MAX) : 0;
    d->max_discard_sectors =
        vblk_has(d, VIRTIO_BLK_F_DISCARD) ? cfg32(d, VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS) : 0;
    d->max_write_zeroes_sectors = vblk_has(d, VIRTIO_BLK_F_WRITE_ZEROES)
                                      ? cfg32(d, VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SECTORS)
                                      : 0;
    set_status(d, VIRTIO_CONFIG_S_DRIVER_OK);
    uint32_t status = vblk_status(d);
    if (status & (VIRTIO_CONFIG_S_NEEDS_RESET | VIRTIO_CONFIG_S_FAILED) ||
        !(status & VIRTIO_CONFIG_S_DRIVER_OK))
        return fail(d, "device refused DRIVER_OK (Status)", status);
    return 0;
}

/* ---- Requests -------------------------------------------------------------------------------- */

static uint64_t phys(const volatile void* p) {
    return (uint64_t)(uintptr_t)p;
}

int vblk_submit(struct vblk* d, uint32_t type, uint64_t sector, const struct vblk_buf* bufs,
                unsigned n, bool indirect) {
    struct vblk_mem* m = &vblk_mem[d->index];
    unsigned items = n + 2;
    unsigned ndesc = indirect ? 1 : items;
    if ((indirect && items > VBLK_INDIRECT_MAX) || d->num_free < ndesc) return -1;
    /* Take ndesc descriptors off the free list. */
    uint16_t head = d->free_head;
    uint16_t idx[VBLK_QSIZE_MAX];
    for (unsigned i = 0; i < ndesc; i++) {
        idx[i] = d->free_head;
        d->free_head = m->free_next[d->free_head];
    }
    d->num_free = (uint16_t)(d->num_free - ndesc);
    m->chain_len[head] = (uint16_t)ndesc;

    struct vblk_req_slot* r = &m->req[head];
    r->hdr.type = type;
    r->hdr.ioprio = 0;
    r->hdr.sector = sector;
    r->status = 0xff;
    bool data_writable = type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID;
    struct vq_desc* out = indirect ? m->indirect[head] : d->desc;
    for (unsigned i = 0; i < items; i++) {
        struct vq_desc* e = &out[indirect ? i : idx[i]];
        if (i == 0) {
            e->addr = phys(&r->hdr);
            e->len = sizeof(r->hdr);
            e->flags = 0;
        } else if (i == items - 1) {
            e->addr = phys(&r->status);
            e->len = 1;
            e->flags = VRING_DESC_F_WRITE;
        } else {
            e->addr = phys(bufs[i - 1].addr);
            e->len = bufs[i - 1].len;
            e->flags = data_writable ? VRING_DESC_F_WRITE : 0;
        }
        if (i + 1 < items) {
            e->flags |= VRING_DESC_F_NEXT;
            e->next = (uint16_t)(indirect ? i + 1 : idx[i + 1]);
        } else {
            e->next = 0;
        }
    }
    if (indirect) {
        d->desc[head].addr = phys(m->indirect[head]);
        d->desc[head].len = (uint32_t)(items * sizeof(struct vq_desc));
        d->desc[head].flags = VRING_DESC_F_INDIRECT;
        d->desc[head].next = 0;
    }
    vblk_push_avail(d, head);
    d->in_flight++;
    return head;
}

void vblk_push_avail(struct vblk* d, uint16_t head) {
    d->avail[2 + (d->avail_idx & (d->qsize - 1))] = head;
    d->avail_idx++;
}

void vblk_kick(struct vblk* d) {
    uint16_t old = d->kicked_idx, now = d->avail_idx;
    if (old == now) return;
    barrier(); /* ring entries before the index (x86 keeps stores in order) */
    d->avail[1] = now;
    d->kicked_idx = now;
    full_fence(); /* publish the index before reading the device's avail_event / flags */
    bool notify;
    if (vblk_has(d, VIRTIO_RING_F_EVENT_IDX)) {
        uint16_t event = d->used[2 + 4 * d->qsize];
        notify = (uint16_t)(now - event - 1) < (uint16_t)(now - old);
    } else {
        notify = !(d->used[0] & VRING_USED_F_NO_NOTIFY);
    }
    if (notify) {
        vmmio_write32(d->base, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
        d->notifies++;
    }
}

static void free_chain(struct vblk* d, uint16_t head) {
    struct vblk_mem* m = &vblk_mem[d->index];
    uint16_t i = head;
    for (uint16_t k = m->chain_len[head]; k > 0; k--) {
        uint16_t next = d->desc[i].next;
        m->free_next[i] = d->free_head;
        d->free_head = i;
        d->num_free++;
        i = next;
    }
    m->chain_len[head] = 0;
}

bool vblk_poll(struct vblk* d, uint16_t* head, uint8_t* status) {
    if (d->last_used == d->used[1]) return false;
    barrier(); /* the index before the element (x86 keeps loads in order) */
    const volatile uint32_t* elem =
        (const volatile uint32_t*)((const volatile uint8_t*)d->used + 4 +
                                   8 * (d->last_used & (d->qsize - 1)));
    uint32_t id = elem[0];
    d->last_used++;
    /* used_event stays half the index space ahead: the device never needs to interrupt. */
    d->avail[2 + d->qsize] = (uint16_t)(d->last_used + 0x8000);
    if (id >= d->qsize) { /* a device bug: report it as an odd status */
        *head = 0xffff;
        *status = 0xfe;
        return true;
    }
    *head = (uint16_t)id;
    *status = vblk_mem[d->index].req[id].status;
    free_chain(d, (uint16_t)id);
    d->in_flight--;
    return true;
}

int vblk_wait(struct vblk* d, uint16_t* head, uint64_t spins) {
    if (spins == 0) spins = 1ull << 30;
    for (uint64_t i = 0; i < spins; i++) {
        uint8_t status;
        if (vblk_poll(d, head, &status)) return status;
        /* Every 64 Ki empty polls (a few ms), one register read: is the device broken? */
        if ((i & 0xffff) == 0xffff && (vblk_status(d) & VIRTIO_CONFIG_S_NEEDS_RESET)) return -1;
        __asm__ volatile("pause");
    }
    return -1;
}

int vblk_do(struct vblk* d, uint32_t type, uint64_t sector, const struct vblk_buf* bufs, unsigned n,
            bool indirect) {
    if (vblk_submit(d, type, sector, bufs, n, indirect) < 0) return -1;
    vblk_kick(d);
    uint16_t head;
    return vblk_wait(d, &head, 0);
}

volatile uint8_t* vblk_status_byte(struct vblk* d, uint16_t head) {
    return &vblk_mem[d->index].req[head].status;
}

struct vblk_outhdr* vblk_header(struct vblk* d, uint16_t head) {
    return &vblk_mem[d->index].req[head].hdr;
}

void vblk_take_all(struct vblk* d) {
    d->num_free = 0;
}

struct vq_desc* vblk_scratch_table(struct vblk* d) {
    return vblk_mem[d->index].scratch;
}
