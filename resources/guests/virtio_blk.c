/* virtio_blk: drives every virtio-blk device named by `virtio_mmio.device=` words on the command
 * line with the runtime's polled ring-3 driver (runtime/virtio_blk.c). Modes (`blk=`):
 *   selftest  features, GET_ID, patterned writes of every request shape, FLUSH, read-back,
 *             DISCARD / WRITE_ZEROES, I/O errors past the end and on read-only drives
 *   verify    only the read-back of what selftest leaves on the disk
 *   durable   writes `sectors=N` patterned sectors, FLUSH, prints "blk: flushed", spins forever
 *   hostile   malformed chains: each must end in DEVICE_NEEDS_RESET or an error status, and the
 *             device must work again after a reset
 *   bench     timed phases for bench/blk_bench.cpp (random 4 KiB at QD1/QD32, sequential 1 MiB)
 * The data pattern (pattern_word) is a pure function of `seed=`, the sector and the word, so the
 * host can check image files byte for byte (docs/guests.md). */
#include "runtime/virtio_blk.h"
#include "runtime/guest.h"

#define SECTOR VIRTIO_BLK_SECTOR_SIZE
#define KIB 1024u
#define MIB (1024u * 1024u)
#define ARENA_BYTES (8u * MIB + 256u * KIB)
#define SELFTEST_MIN_SECTORS 4096

static struct vblk devs[VBLK_MAX_DEVS];
static unsigned ndevs;
static uint8_t arena[ARENA_BYTES] __attribute__((aligned(4096)));
static unsigned checks, failures;

/* ---- The pattern ----------------------------------------------------------------------------- */

/* splitmix64's finaliser. Word w (0-63) of sector s, stored little-endian:
 * mix64((seed << 48) ^ (s << 6) ^ w). */
static uint64_t mix64(uint64_t z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t pattern_word(uint64_t seed, uint64_t sector, unsigned word) {
    return mix64((seed << 48) ^ (sector << 6) ^ word);
}

static void fill(void* buf, uint64_t seed, uint64_t sector, uint64_t count) {
    uint64_t* w = buf;
    for (uint64_t s = 0; s < count; s++)
        for (unsigned i = 0; i < SECTOR / 8; i++)
            *w++ = pattern_word(seed, sector + s, i);
}

static void zero(void* buf, uint64_t bytes) {
    uint64_t* w = buf;
    for (uint64_t i = 0; i < bytes / 8; i++)
        w[i] = 0;
}

/* ---- Reporting ------------------------------------------------------------------------------- */

static bool check(bool ok, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
static bool check(bool ok, const char* fmt, ...) {
    va_list args;
    va_start(args, fmt);
    checks++;
    if (!ok) failures++;
    con_puts(ok ? "blk: ok " : "blk: FAIL ");
    con_vprintf(fmt, args);
    con_putc('\n');
    va_end(args);
    return ok;
}

static const char* status_name(int status) {
    switch (status) {
    case VIRTIO_BLK_S_OK:
        return "OK";
    case VIRTIO_BLK_S_IOERR:
        return "IOERR";
    case VIRTIO_BLK_S_UNSUPP:
        return "UNSUPP";
    case -1:
        return "no completion (DEVICE_NEEDS_RESET or timeout)";
    default:
        return "an invalid status byte";
    }
}

/* The marker lines the host timestamps: flush, then one port read so that ember replays its
 * coalesced serial writes now rather than at the next exit or drain tick. */
static void marker_flush(void) {
    con_flush();
    uint8_t lsr;
    __asm__ volatile("inb %1, %0" : "=a"(lsr) : "Nd"((uint16_t)0x3fd));
    (void)lsr;
}

/* ---- Helpers --------------------------------------------------------------------------------- */

static int rw(struct vblk* d, uint32_t type, uint64_t sector, void* buf, uint32_t bytes) {
    struct vblk_buf b = {buf, bytes};
    return vblk_do(d, type, sector, &b, 1, false);
}

/* A buffer cut into segments no longer than the device's size_max (if it has one). */
static unsigned segments(const struct vblk* d, uint8_t* buf, uint32_t bytes, struct vblk_buf* out,
                         unsigned max) {
    uint32_t limit = d->size_max != 0 ? d->size_max : bytes;
    unsigned n = 0;
    while (bytes > 0 && n < max) {
        uint32_t len = bytes < limit ? bytes : limit;
        out[n].addr = buf;
        out[n].len = len;
        n++;
        buf += len;
        bytes -= len;
    }
    return n;
}

/* What selftest leaves on a disk of `cap` sectors (everything else stays zero). Before the
 * DISCARD / WRITE_ZEROES step, 2048-2111 are all pattern. */
struct region {
    uint64_t start, count;
    bool zero;
    const char* name;
};

static unsigned layout(uint64_t cap, bool final, struct region* r) {
    unsigned n = 0;
    r[n++] = (struct region){0, 1, false, "single sector"};
    r[n++] = (struct region){8, 8, false, "4 KiB request"};
    r[n++] = (struct region){64, 32, false, "multi-segment request"};
    r[n++] = (struct region){128, 16, false, "indirect request"};
    r[n++] = (struct region){1024, 512, false, "queue depth 64"};
    if (final) {
        r[n++] = (struct region){2048, 32, true, "discarded range"};
        r[n++] = (struct region){2080, 16, true, "write-zeroes range"};
        r[n++] = (struct region){2096, 16, false, "after the zeroed ranges"};
    } else {
        r[n++] = (struct region){2048, 64, false, "range to zero"};
    }
    r[n++] = (struct region){cap - 1, 1, false, "last sector"};
    return n;
}

/* Reads every sector of the layout's span (0-2111 and the last) and compares. */
static bool verify_layout(struct vblk* d, uint64_t seed, bool final) {
    struct region r[16];
    unsigned n = layout(d->capacity, final, r);
    const uint64_t chunk = 128; /* sectors per read: 64 KiB */
    uint8_t* buf = arena;
    uint64_t spans[2][2] = {{0, 2112}, {d->capacity - 1, 1}};
    for (unsigned sp = 0; sp < 2; sp++) {
        for (uint64_t s = spans[sp][0]; s < spans[sp][0] + spans[sp][1]; s += chunk) {
            uint64_t left = spans[sp][0] + spans[sp][1] - s;
            uint64_t count = left < chunk ? left : chunk;
            int st = rw(d, VIRTIO_BLK_T_IN, s, buf, (uint32_t)(count * SECTOR));
            if (st != VIRTIO_BLK_S_OK)
                return check(false, "read back sectors %lu+%lu: %s", s, count, status_name(st));
            for (uint64_t k = 0; k < count; k++) {
                uint64_t sector = s + k;
                bool patterned = false;
                for (unsigned i = 0; i < n; i++)
                    if (sector >= r[i].start && sector < r[i].start + r[i].count)
                        patterned = !r[i].zero;
                const uint64_t* w = (const uint64_t*)(buf + k * SECTOR);
                for (unsigned i = 0; i < SECTOR / 8; i++) {
                    uint64_t want = patterned ? pattern_word(seed, sector, i) : 0;
                    if (w[i] != want)
                        return check(false,
                                     "read back: sector %lu word %u is 0x%lx, expected 0x%lx",
                                     sector, i, w[i], want);
                }
            }
        }
    }
    return check(true, "read back %u regions (%s)", n, final ? "final layout" : "before zeroing");
}

/* ---- selftest -------------------------------------------------------------------------------- */

static void get_id(struct vblk* d) {
    char* id = (char*)arena;
    zero(arena, 64);
    struct vblk_buf b = {id, VIRTIO_BLK_ID_BYTES};
    int st = vblk_do(d, VIRTIO_BLK_T_GET_ID, 0, &b, 1, false);
    if (!check(st == VIRTIO_BLK_S_OK, "get-id (status %s)", status_name(st))) return;
    con_puts("blk: id ");
    for (unsigned i = 0; i < VIRTIO_BLK_ID_BYTES && id[i] != 0; i++)
        con_putc(id[i] >= 0x20 && id[i] < 0x7f ? id[i] : '?');
    con_putc('\n');
}

static void write_region(struct vblk* d, uint64_t seed, uint64_t sector, uint64_t count,
                         const char* what) {
    fill(arena, seed, sector, count);
    int st = rw(d, VIRTIO_BLK_T_OUT, sector, arena, (uint32_t)(count * SECTOR));
    check(st == VIRTIO_BLK_S_OK, "write %s (sectors %lu+%lu, %s)", what, sector, count,
          status_name(st));
}

static void write_multi_segment(struct vblk* d, uint64_t seed) {
    static const uint32_t lens[] = {512, 1536, 4096, 10240}; /* 32 sectors, uneven pieces */
    struct vblk_buf b[4];
    uint8_t* p = arena;
    fill(arena, seed, 64, 32);
    for (unsigned i = 0; i < 4; i++) {
        b[i] = (struct vblk_buf){p, lens[i]};
        p += lens[i];
    }
    unsigned n = 4;
    if (vblk_has(d, VIRTIO_BLK_F_SEG_MAX) && d->seg_max < n) n = 0; /* cannot: fall back */
    int st = n == 4 ? vblk_do(d, VIRTIO_BLK_T_OUT, 64, b, 4, false)
                    : rw(d, VIRTIO_BLK_T_OUT, 64, arena, 32 * SECTOR);
    check(st == VIRTIO_BLK_S_OK, "write multi-segment request (4 data descriptors, %s)",
          status_name(st));
}

static void write_indirect(struct vblk* d, uint64_t seed) {
    fill(arena, seed, 128, 16);
    struct vblk_buf b[2] = {{arena, 4096}, {arena + 4096, 4096}};
    bool ind = vblk_has(d, VIRTIO_RING_F_INDIRECT_DESC);
    int st = vblk_do(d, VIRTIO_BLK_T_OUT, 128, b, 2, ind);
    check(st == VIRTIO_BLK_S_OK, "write %s (%s)",
          ind ? "indirect-descriptor request" : "request (INDIRECT_DESC not offered)",
          status_name(st));
}

/* `count` 4 KiB requests starting at `sector`, as many in flight as the ring holds (up to 64). */
static void queue_depth(struct vblk* d, uint32_t type, uint64_t seed, uint64_t sector,
                        unsigned count) {
    uint8_t* bufs = arena + 256 * KIB;
    if (type == VIRTIO_BLK_T_OUT)
        fill(bufs, seed, sector, count * 8ull);
    else
        for (unsigned i = 0; i < count * 4096u; i++)
            bufs[i] = 0xa5;
    unsigned submitted = 0, done = 0, bad = 0, peak = 0;
    while (done < count) {
        while (submitted < count) {
            struct vblk_buf b = {bufs + submitted * 4096u, 4096};
            if (vblk_submit(d, type, sector + submitted * 8ull, &b, 1, false) < 0) break;
            submitted++;
        }
        if (d->in_flight > peak) peak = d->in_flight;
        vblk_kick(d);
        uint16_t head;
        int st = vblk_wait(d, &head, 0);
        if (st < 0) break;
        done++;
        if (st != VIRTIO_BLK_S_OK) bad++;
        uint8_t s8;
        while (vblk_poll(d, &head, &s8)) {
            done++;
            if (s8 != VIRTIO_BLK_S_OK) bad++;
        }
    }
    bool ok = done == count && bad == 0;
    if (ok && type == VIRTIO_BLK_T_IN) {
        const uint64_t* w = (const uint64_t*)bufs;
        for (uint64_t s = 0; ok && s < count * 8ull; s++)
            for (unsigned i = 0; ok && i < SECTOR / 8; i++)
                ok = w[s * 64 + i] == pattern_word(seed, sector + s, i);
    }
    check(ok, "%s %u x 4 KiB at queue depth %u (%u completed, %u errors)",
          type == VIRTIO_BLK_T_OUT ? "write" : "read and compare", count, peak, done, bad);
}

static void zero_ranges(struct vblk* d) {
    struct vblk_range* range = (struct vblk_range*)arena;
    struct vblk_buf b = {range, sizeof(*range)};
    int st;
    if (vblk_has(d, VIRTIO_BLK_F_DISCARD)) {
        *range = (struct vblk_range){2048, 32, 0};
        st = vblk_do(d, VIRTIO_BLK_T_DISCARD, 0, &b, 1, false);
        check(st == VIRTIO_BLK_S_OK, "discard sectors 2048+32 (%s)", status_name(st));
    } else {
        con_puts("blk: skip discard (VIRTIO_BLK_F_DISCARD not offered): writing zeroes\n");
        zero(arena + 4096, 32 * SECTOR);
        st = rw(d, VIRTIO_BLK_T_OUT, 2048, arena + 4096, 32 * SECTOR);
        check(st == VIRTIO_BLK_S_OK, "zero sectors 2048+32 (%s)", status_name(st));
    }
    if (vblk_has(d, VIRTIO_BLK_F_WRITE_ZEROES)) {
        *range = (struct vblk_range){2080, 16, 0};
        st = vblk_do(d, VIRTIO_BLK_T_WRITE_ZEROES, 0, &b, 1, false);
        check(st == VIRTIO_BLK_S_OK, "write-zeroes sectors 2080+16 (%s)", status_name(st));
    } else {
        con_puts("blk: skip write-zeroes (VIRTIO_BLK_F_WRITE_ZEROES not offered): writing "
                 "zeroes\n");
        zero(arena + 4096, 16 * SECTOR);
        st = rw(d, VIRTIO_BLK_T_OUT, 2080, arena + 4096, 16 * SECTOR);
        check(st == VIRTIO_BLK_S_OK, "zero sectors 2080+16 (%s)", status_name(st));
    }
}

static void past_capacity(struct vblk* d) {
    int st = rw(d, VIRTIO_BLK_T_IN, d->capacity, arena, SECTOR);
    check(st == VIRTIO_BLK_S_IOERR, "read at sector %lu (capacity) gets IOERR (got %s)",
          d->capacity, status_name(st));
    st = rw(d, VIRTIO_BLK_T_IN, d->capacity - 1, arena, 2 * SECTOR);
    check(st == VIRTIO_BLK_S_IOERR, "read across the end (sectors %lu+2) gets IOERR (got %s)",
          d->capacity - 1, status_name(st));
}

static void flush(struct vblk* d) {
    if (!vblk_has(d, VIRTIO_BLK_F_FLUSH)) {
        con_puts("blk: skip flush (VIRTIO_BLK_F_FLUSH not offered)\n");
        return;
    }
    int st = vblk_do(d, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false);
    check(st == VIRTIO_BLK_S_OK, "flush (%s)", status_name(st));
}

static void selftest_read_only(struct vblk* d, uint64_t seed) {
    verify_layout(d, seed, true);
    fill(arena, seed ^ 0xffff, 0, 1);
    int st = rw(d, VIRTIO_BLK_T_OUT, 0, arena, SECTOR);
    check(st == VIRTIO_BLK_S_IOERR, "write to a read-only drive gets IOERR (got %s)",
          status_name(st));
    past_capacity(d);
    verify_layout(d, seed, true); /* the refused write changed nothing */
}

static void selftest(struct vblk* d, uint64_t seed) {
    if (vblk_has(d, VIRTIO_BLK_F_RO)) {
        con_puts("blk: read-only drive (VIRTIO_BLK_F_RO)\n");
        selftest_read_only(d, seed);
        return;
    }
    write_region(d, seed, 0, 1, "single sector");
    write_region(d, seed, 8, 8, "4 KiB request");
    write_multi_segment(d, seed);
    write_indirect(d, seed);
    queue_depth(d, VIRTIO_BLK_T_OUT, seed, 1024, 64);
    write_region(d, seed, 2048, 64, "range to zero");
    write_region(d, seed, d->capacity - 1, 1, "last sector");
    flush(d);
    verify_layout(d, seed, false);
    queue_depth(d, VIRTIO_BLK_T_IN, seed, 1024, 64);
    zero_ranges(d);
    flush(d);
    verify_layout(d, seed, true);
    past_capacity(d);
}

static void describe(const struct vblk* d) {
    con_printf("blk: dev %u at 0x%lx irq %u: capacity %lu sectors, queue %u of %u, features "
               "0x%lx of 0x%lx, seg_max %u\n",
               d->index, d->base, d->irq, d->capacity, d->qsize, d->queue_num_max, d->features,
               d->offered, d->seg_max);
}

static int run_selftest(uint64_t seed, bool verify_only) {
    for (unsigned i = 0; i < ndevs; i++) {
        struct vblk* d = &devs[i];
        describe(d);
        if (!check(d->capacity >= SELFTEST_MIN_SECTORS, "capacity %lu >= %u sectors", d->capacity,
                   SELFTEST_MIN_SECTORS))
            continue;
        get_id(d);
        if (verify_only)
            verify_layout(d, seed + i, true);
        else
            selftest(d, seed + i);
        check(vblk_status(d) == (VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
                                 VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK),
              "device %u status 0x%x (no DEVICE_NEEDS_RESET)", i, vblk_status(d));
    }
    con_printf("blk: %s %s (%u checks, %u failed)\n", verify_only ? "verify" : "selftest",
               failures == 0 ? "passed" : "FAILED", checks, failures);
    return failures == 0 ? 0 : 1;
}

/* ---- durable --------------------------------------------------------------------------------- */

static int run_durable(uint64_t seed, uint64_t sectors) {
    struct vblk* d = &devs[0];
    if (sectors > d->capacity) sectors = d->capacity;
    sectors &= ~7ull;
    uint64_t chunk = 256; /* 128 KiB per request */
    for (uint64_t s = 0; s < sectors; s += chunk) {
        uint64_t count = sectors - s < chunk ? sectors - s : chunk;
        fill(arena, seed, s, count);
        int st = rw(d, VIRTIO_BLK_T_OUT, s, arena, (uint32_t)(count * SECTOR));
        if (st != VIRTIO_BLK_S_OK) {
            con_printf("blk: durable: write of sectors %lu+%lu failed: %s\n", s, count,
                       status_name(st));
            return 1;
        }
    }
    if (vblk_has(d, VIRTIO_BLK_F_FLUSH)) {
        int st = vblk_do(d, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false);
        if (st != VIRTIO_BLK_S_OK) {
            con_printf("blk: durable: flush failed: %s\n", status_name(st));
            return 1;
        }
    } else {
        con_puts("blk: flush not offered (cache=unsafe?)\n");
    }
    con_printf("blk: wrote %lu sectors\nblk: flushed\n", sectors);
    marker_flush();
    for (;;) /* the host kills the VMM now */
        __asm__ volatile("pause");
}

/* ---- hostile --------------------------------------------------------------------------------- */

enum outcome { OUT_TIMEOUT, OUT_NEEDS_RESET, OUT_ERROR_STATUS, OUT_OTHER };

/* Waits for what the device made of the hand-built request on head 0. */
static enum outcome await(struct vblk* d, uint64_t spins, int* status) {
    *status = -1;
    for (uint64_t i = 0; i < spins; i++) {
        if (d->used[1] != d->last_used) {
            *status = *vblk_status_byte(d, 0);
            if (*status == VIRTIO_BLK_S_IOERR || *status == VIRTIO_BLK_S_UNSUPP)
                return OUT_ERROR_STATUS;
            /* a completion without an error status: still fine if the device is now broken */
            return (vblk_status(d) & VIRTIO_CONFIG_S_NEEDS_RESET) ? OUT_NEEDS_RESET : OUT_OTHER;
        }
        if ((i & 0xfff) == 0xfff && (vblk_status(d) & VIRTIO_CONFIG_S_NEEDS_RESET))
            return OUT_NEEDS_RESET;
        __asm__ volatile("pause");
    }
    return (vblk_status(d) & VIRTIO_CONFIG_S_NEEDS_RESET) ? OUT_NEEDS_RESET : OUT_TIMEOUT;
}

static void set_desc(struct vq_desc* t, unsigned i, const volatile void* addr, uint32_t len,
                     uint16_t flags, uint16_t next) {
    t[i].addr = (uint64_t)(uintptr_t)addr;
    t[i].len = len;
    t[i].flags = flags;
    t[i].next = next;
}

#define NX VRING_DESC_F_NEXT
#define WR VRING_DESC_F_WRITE
#define IND VRING_DESC_F_INDIRECT

/* Fills d->desc (or the scratch table) with case `c`'s chain on head 0; returns false if the
 * case writes avail->idx itself. Every chain reads sector 0 into `data` unless it says so. */
static bool build_case(struct vblk* d, unsigned c, uint8_t* data) {
    struct vq_desc* t = d->desc;
    struct vq_desc* s = vblk_scratch_table(d);
    struct vblk_outhdr* h = vblk_header(d, 0);
    volatile uint8_t* st = vblk_status_byte(d, 0);
    uint16_t q = d->qsize;
    *h = (struct vblk_outhdr){VIRTIO_BLK_T_IN, 0, 0};
    *st = 0xff;
    switch (c) {
    case 0: /* loop: 0 -> 1 -> 2 -> 1 (no direction change, so only the loop is wrong) */
        set_desc(t, 0, h, 16, NX, 1);
        set_desc(t, 1, data, SECTOR, WR | NX, 2);
        set_desc(t, 2, st, 1, WR | NX, 1);
        break;
    case 1: /* next out of range */
        set_desc(t, 0, h, 16, NX, q);
        break;
    case 2: /* buffer outside guest RAM (1 TiB) */
        set_desc(t, 0, h, 16, NX, 1);
        t[1] = (struct vq_desc){1ull << 40, SECTOR, WR | NX, 2};
        set_desc(t, 2, st, 1, WR, 0);
        break;
    case 3: /* addr + len overflows */
        set_desc(t, 0, h, 16, NX, 1);
        t[1] = (struct vq_desc){0xfffffffffffff000ull, 0x2000, WR | NX, 2};
        set_desc(t, 2, st, 1, WR, 0);
        break;
    case 4: /* indirect table length not a multiple of 16 */
        set_desc(s, 0, h, 16, NX, 1);
        set_desc(s, 1, data, SECTOR, WR | NX, 2);
        set_desc(s, 2, st, 1, WR, 0);
        set_desc(t, 0, s, 40, IND, 0);
        break;
    case 5: /* an indirect descriptor inside an indirect table */
        set_desc(s, 0, h, 16, NX, 1);
        set_desc(s, 1, &s[8], 48, IND, 0);
        set_desc(s, 8, data, SECTOR, WR | NX, 9);
        set_desc(s, 9, st, 1, WR, 0);
        set_desc(t, 0, s, 32, IND, 0);
        break;
    case 6: /* wrong direction: header device-writable, status device-readable */
        set_desc(t, 0, h, 16, WR | NX, 1);
        set_desc(t, 1, st, 1, 0, 0);
        break;
    case 7: /* chain longer than the queue: an indirect table of q + 1 entries */
        set_desc(s, 0, h, 16, NX, 1);
        for (unsigned i = 1; i < q; i++)
            set_desc(s, i, data, SECTOR, WR | NX, (uint16_t)(i + 1));
        set_desc(s, q, st, 1, WR, 0);
        set_desc(t, 0, s, (uint32_t)(q + 1) * 16, IND, 0);
        break;
    case 8: /* avail->idx more than the queue size ahead of what the device has consumed */
        set_desc(t, 0, h, 16, NX, 1);
        set_desc(t, 1, data, SECTOR, WR | NX, 2);
        set_desc(t, 2, st, 1, WR, 0);
        for (unsigned i = 0; i < q; i++) /* every slot names head 0 */
            d->avail[2 + i] = 0;
        __asm__ volatile("" ::: "memory");
        d->avail[1] = (uint16_t)(d->avail_idx + q + 1);
        return false;
    case 9: /* request header too short (8 of 16 bytes) */
        set_desc(t, 0, h, 8, NX, 1);
        set_desc(t, 1, data, SECTOR, WR | NX, 2);
        set_desc(t, 2, st, 1, WR, 0);
        break;
    case 10: /* data length not a multiple of 512 */
        set_desc(t, 0, h, 16, NX, 1);
        set_desc(t, 1, data, 100, WR | NX, 2);
        set_desc(t, 2, st, 1, WR, 0);
        break;
    case 11: /* no status buffer: a write with only device-readable buffers */
        h->type = VIRTIO_BLK_T_OUT;
        set_desc(t, 0, h, 16, NX, 1);
        set_desc(t, 1, data, SECTOR, 0, 0);
        break;
    default: /* 12: an unknown request type */
        h->type = 0x55;
        set_desc(t, 0, h, 16, NX, 1);
        set_desc(t, 1, data, SECTOR, WR | NX, 2);
        set_desc(t, 2, st, 1, WR, 0);
        break;
    }
    vblk_push_avail(d, 0);
    return true;
}

static const char* const case_names[] = {
    "descriptor loop",
    "next index out of range",
    "buffer outside guest RAM",
    "address + length overflow",
    "indirect table length not a multiple of 16",
    "nested indirect table",
    "writable header and readable status",
    "chain longer than the queue",
    "avail->idx more than the queue size ahead",
    "request header too short",
    "data length not a multiple of 512",
    "no status buffer",
    "unknown request type",
};
#define NCASES (sizeof(case_names) / sizeof(case_names[0]))

static const char* outcome_name(enum outcome o) {
    switch (o) {
    case OUT_NEEDS_RESET:
        return "DEVICE_NEEDS_RESET";
    case OUT_ERROR_STATUS:
        return "error status";
    case OUT_TIMEOUT:
        return "no answer";
    default:
        return "completed without an error";
    }
}

static int run_hostile(uint64_t spins) {
    struct vblk* d = &devs[0];
    describe(d);
    uint8_t* data = arena;
    for (unsigned c = 0; c < NCASES; c++) {
        vblk_take_all(d);
        if (build_case(d, c, data)) {
            vblk_kick(d);
        } else {
            __asm__ volatile("mfence" ::: "memory");
            vmmio_write32(d->base, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
        }
        int status;
        enum outcome o = await(d, spins, &status);
        bool good = o == OUT_NEEDS_RESET || o == OUT_ERROR_STATUS;
        if (c == NCASES - 1) good = o == OUT_ERROR_STATUS && status == VIRTIO_BLK_S_UNSUPP;
        uint32_t dev_status = vblk_status(d);
        vblk_reset(d);
        int reinit = vblk_init(d);
        int st = reinit == 0 ? rw(d, VIRTIO_BLK_T_IN, 0, data, SECTOR) : -1;
        check(good && st == VIRTIO_BLK_S_OK,
              "hostile %s: %s (status byte %s, Status 0x%x); after reset a read gets %s",
              case_names[c], outcome_name(o), status < 0 ? "untouched" : status_name(status),
              dev_status, status_name(st));
    }
    con_printf("blk: hostile %s (%u checks, %u failed)\n", failures == 0 ? "passed" : "FAILED",
               checks, failures);
    return failures == 0 ? 0 : 1;
}

/* ---- bench ----------------------------------------------------------------------------------- */

static uint64_t xorshift_state = 0x2545f4914f6cdd1dull;
static uint64_t xorshift(void) {
    uint64_t x = xorshift_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return xorshift_state = x;
}

struct phase {
    const char* name;
    uint32_t type;
    uint32_t bytes; /* per request */
    bool random;
    unsigned qd;
};

/* Keeps `qd` requests in flight until `ops` have completed. */
static int bench_phase(struct vblk* d, const struct phase* p, uint64_t ops) {
    uint64_t spr = p->bytes / SECTOR; /* sectors per request */
    uint64_t slots = d->capacity / spr;
    uint64_t submitted = 0, completed = 0, next = 0;
    struct vblk_buf b[VBLK_QSIZE_MAX];
    con_printf("bench: begin %s\n", p->name);
    marker_flush();
    while (completed < ops) {
        while (submitted < ops && d->in_flight < p->qd) {
            uint64_t slot = p->random ? xorshift() % slots : next++ % slots;
            uint8_t* buf = arena + (submitted % p->qd) * (uint64_t)p->bytes;
            unsigned n = segments(d, buf, p->bytes, b, VBLK_QSIZE_MAX);
            if (vblk_submit(d, p->type, slot * spr, b, n, false) < 0) break;
            submitted++;
        }
        vblk_kick(d);
        uint16_t head;
        int st = vblk_wait(d, &head, 0);
        for (;;) {
            if (st != VIRTIO_BLK_S_OK) {
                con_printf("bench: %s: request failed: %s\n", p->name, status_name(st));
                return 1;
            }
            completed++;
            uint8_t s8;
            if (!vblk_poll(d, &head, &s8)) break;
            st = s8;
        }
    }
    con_printf("bench: end %s %lu %lu\n", p->name, ops, ops * p->bytes);
    marker_flush();
    return 0;
}

static int run_bench(uint64_t ops, uint64_t seq_ops, unsigned qd, unsigned seq_qd) {
    struct vblk* d = &devs[0];
    describe(d);
    if (qd * 4096u > ARENA_BYTES || seq_qd * MIB > ARENA_BYTES || qd > 64 || seq_qd > 8) {
        con_printf("bench: qd=%u (1-64) or seq_qd=%u (1-8) out of range\n", qd, seq_qd);
        return 2;
    }
    if (d->capacity < 2 * (MIB / SECTOR)) {
        con_puts("bench: the disk is smaller than 2 MiB\n");
        return 2;
    }
    for (uint64_t i = 0; i < ARENA_BYTES / 8; i++)
        ((uint64_t*)arena)[i] = mix64(i);
    char names[4][24] = {"randread-qd1", "randread-qd", "randwrite-qd1", "randwrite-qd"};
    for (unsigned i = 1; i < 4; i += 2) { /* append the depth: randread-qd32 */
        unsigned len = (unsigned)guest_strlen(names[i]);
        if (qd >= 10) names[i][len++] = (char)('0' + qd / 10);
        names[i][len++] = (char)('0' + qd % 10);
        names[i][len] = 0;
    }
    const struct phase phases[] = {
        {names[0], VIRTIO_BLK_T_IN, 4096, true, 1},
        {names[1], VIRTIO_BLK_T_IN, 4096, true, qd},
        {names[2], VIRTIO_BLK_T_OUT, 4096, true, 1},
        {names[3], VIRTIO_BLK_T_OUT, 4096, true, qd},
        {"seqread-1m", VIRTIO_BLK_T_IN, MIB, false, seq_qd},
        {"seqwrite-1m", VIRTIO_BLK_T_OUT, MIB, false, seq_qd},
    };
    for (unsigned i = 0; i < sizeof(phases) / sizeof(phases[0]); i++)
        if (bench_phase(d, &phases[i], phases[i].bytes == MIB ? seq_ops : ops) != 0) return 1;
    con_printf("bench: done (%lu notifications)\n", d->notifies);
    return 0;
}

/* ---- main ------------------------------------------------------------------------------------ */

int guest_main(const char* cmd) {
    struct vmmio_window w[VBLK_MAX_DEVS];
    ndevs = vmmio_find_windows(cmd, w, VBLK_MAX_DEVS);
    if (ndevs == 0) {
        con_puts("blk: no virtio_mmio.device=<size>@<base>:<irq> on the command line\n");
        return 2;
    }
    uint64_t mask = VBLK_DRIVER_FEATURES;
    if (cmdline_get_u64("event_idx", 1) == 0) mask &= ~BIT64(VIRTIO_RING_F_EVENT_IDX);
    if (cmdline_get_u64("indirect", 1) == 0) mask &= ~BIT64(VIRTIO_RING_F_INDIRECT_DESC);
    for (unsigned i = 0; i < ndevs; i++) {
        devs[i] = (struct vblk){.index = i, .base = w[i].base, .irq = w[i].irq, .mask = mask};
        if (vblk_init(&devs[i]) != 0) return 2;
    }
    const char* mode;
    size_t len;
    if (!cmdline_get("blk", &mode, &len)) {
        mode = "selftest";
        len = 8;
    }
    uint64_t seed = cmdline_get_u64("seed", 1);
    if (guest_streq(mode, len, "selftest")) return run_selftest(seed, false);
    if (guest_streq(mode, len, "verify")) return run_selftest(seed, true);
    if (guest_streq(mode, len, "durable"))
        return run_durable(seed, cmdline_get_u64("sectors", 2048));
    if (guest_streq(mode, len, "hostile"))
        return run_hostile(cmdline_get_u64("hostile_wait", 20000000));
    if (guest_streq(mode, len, "bench"))
        return run_bench(cmdline_get_u64("ops", 10000), cmdline_get_u64("seq_ops", 256),
                         (unsigned)cmdline_get_u64("qd", 32),
                         (unsigned)cmdline_get_u64("seq_qd", 4));
    con_puts("blk: unknown mode (blk=selftest|verify|durable|hostile|bench)\n");
    return 2;
}
