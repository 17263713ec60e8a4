/* A polled virtio-blk driver for test guests: virtio 1.x over virtio-mmio version 2, one split
 * virtqueue, no interrupts. Everything runs in ring 3: registers are reached through the
 * user-accessible identity map of 3-4 GiB, rings and buffers live in the image's .bss (virtual =
 * physical), and completions are found by polling used->idx.
 *
 * Constants are copied from the kernel's uapi headers (named beside each group) because the
 * guests are freestanding; the values are ABI and never change. */
#ifndef EMBER_GUEST_VIRTIO_BLK_H
#define EMBER_GUEST_VIRTIO_BLK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* <linux/virtio_mmio.h>: register offsets of a virtio-mmio window. */
#define VIRTIO_MMIO_MAGIC_VALUE 0x000 /* "virt" = 0x74726976 */
#define VIRTIO_MMIO_VERSION 0x004
#define VIRTIO_MMIO_DEVICE_ID 0x008
#define VIRTIO_MMIO_VENDOR_ID 0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES 0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES 0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL 0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX 0x034
#define VIRTIO_MMIO_QUEUE_NUM 0x038
#define VIRTIO_MMIO_QUEUE_READY 0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY 0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS 0x060
#define VIRTIO_MMIO_INTERRUPT_ACK 0x064
#define VIRTIO_MMIO_STATUS 0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW 0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH 0x084
#define VIRTIO_MMIO_QUEUE_AVAIL_LOW 0x090
#define VIRTIO_MMIO_QUEUE_AVAIL_HIGH 0x094
#define VIRTIO_MMIO_QUEUE_USED_LOW 0x0a0
#define VIRTIO_MMIO_QUEUE_USED_HIGH 0x0a4
#define VIRTIO_MMIO_CONFIG_GENERATION 0x0fc
#define VIRTIO_MMIO_CONFIG 0x100
#define VIRTIO_MMIO_MAGIC 0x74726976u

/* <linux/virtio_config.h>: device status bits and transport feature bits. */
#define VIRTIO_CONFIG_S_ACKNOWLEDGE 0x01
#define VIRTIO_CONFIG_S_DRIVER 0x02
#define VIRTIO_CONFIG_S_DRIVER_OK 0x04
#define VIRTIO_CONFIG_S_FEATURES_OK 0x08
#define VIRTIO_CONFIG_S_NEEDS_RESET 0x40
#define VIRTIO_CONFIG_S_FAILED 0x80
#define VIRTIO_F_VERSION_1 32

/* <linux/virtio_ring.h>: descriptor flags, ring flags and ring features. */
#define VRING_DESC_F_NEXT 1
#define VRING_DESC_F_WRITE 2
#define VRING_DESC_F_INDIRECT 4
#define VRING_USED_F_NO_NOTIFY 1
#define VRING_AVAIL_F_NO_INTERRUPT 1
#define VIRTIO_RING_F_INDIRECT_DESC 28
#define VIRTIO_RING_F_EVENT_IDX 29

/* <linux/virtio_ids.h> */
#define VIRTIO_ID_BLOCK 2

/* <linux/virtio_blk.h>: features, request types, status values, config offsets. */
#define VIRTIO_BLK_F_SIZE_MAX 1
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2
#define VIRTIO_BLK_ID_BYTES 20
#define VIRTIO_BLK_SECTOR_SIZE 512
/* struct virtio_blk_config offsets */
#define VIRTIO_BLK_CFG_CAPACITY 0 /* le64, in 512-byte sectors */
#define VIRTIO_BLK_CFG_SIZE_MAX 8
#define VIRTIO_BLK_CFG_SEG_MAX 12
#define VIRTIO_BLK_CFG_BLK_SIZE 20
#define VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS 36
#define VIRTIO_BLK_CFG_MAX_DISCARD_SEG 40
#define VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SECTORS 48
#define VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SEG 52

#define BIT64(n) (1ull << (n))

/* struct virtq_desc (virtio 1.2, 2.7.5) */
struct vq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};
_Static_assert(sizeof(struct vq_desc) == 16, "virtq_desc is 16 bytes");

/* struct virtio_blk_outhdr: the device-readable request header. */
struct vblk_outhdr {
    uint32_t type;
    uint32_t ioprio;
    uint64_t sector;
};
_Static_assert(sizeof(struct vblk_outhdr) == 16, "virtio_blk_outhdr is 16 bytes");

/* struct virtio_blk_discard_write_zeroes: one range of a DISCARD or WRITE_ZEROES request. */
struct vblk_range {
    uint64_t sector;
    uint32_t num_sectors;
    uint32_t flags; /* bit 0: unmap (WRITE_ZEROES) */
};
_Static_assert(sizeof(struct vblk_range) == 16, "virtio_blk_discard_write_zeroes is 16 bytes");

/* ---- Finding devices ------------------------------------------------------------------------- */
struct vmmio_window {
    uint64_t base;
    uint64_t size;
    uint32_t irq;
};

/* The windows named by `virtio_mmio.device=<size>@<base>:<irq>[:<id>]` words of a command line,
 * in order (Linux's syntax: size takes a K/M/G suffix; numbers are 0x-hex, 0-octal or decimal).
 * Returns how many were found (at most max); a malformed word is reported and skipped. */
unsigned vmmio_find_windows(const char* cmdline, struct vmmio_window* out, unsigned max);

/* ---- One device ------------------------------------------------------------------------------ */
#define VBLK_MAX_DEVS 4
#define VBLK_QSIZE_MAX 256
#define VBLK_INDIRECT_MAX 16 /* entries in each request's indirect table */

/* The driver's features: what it negotiates when the device offers them. */
#define VBLK_DRIVER_FEATURES                                                                       \
    (BIT64(VIRTIO_F_VERSION_1) | BIT64(VIRTIO_RING_F_EVENT_IDX) |                                  \
     BIT64(VIRTIO_RING_F_INDIRECT_DESC) | BIT64(VIRTIO_BLK_F_SIZE_MAX) |                           \
     BIT64(VIRTIO_BLK_F_SEG_MAX) | BIT64(VIRTIO_BLK_F_RO) | BIT64(VIRTIO_BLK_F_BLK_SIZE) |         \
     BIT64(VIRTIO_BLK_F_FLUSH) | BIT64(VIRTIO_BLK_F_DISCARD) | BIT64(VIRTIO_BLK_F_WRITE_ZEROES))

struct vblk {
    unsigned index; /* 0 .. VBLK_MAX_DEVS-1: which static ring memory it uses */
    uint64_t base;
    uint32_t irq;
    uint64_t mask; /* features the driver may take: VBLK_DRIVER_FEATURES minus any turned off */
    /* Read at init. */
    uint32_t version, device_id, vendor_id, queue_num_max;
    uint64_t offered, features; /* device features; negotiated features */
    uint64_t capacity;          /* sectors */
    uint32_t seg_max, size_max;
    uint32_t max_discard_sectors, max_write_zeroes_sectors;
    /* The split virtqueue (queue 0). */
    uint16_t qsize;
    struct vq_desc* desc;
    volatile uint16_t* avail; /* flags, idx, ring[qsize], used_event */
    volatile uint16_t* used;  /* flags, idx, ring[qsize] of {u32 id, u32 len}, avail_event */
    uint16_t avail_idx;       /* entries added to the available ring */
    uint16_t kicked_idx;      /* avail->idx at the last notification decision */
    uint16_t last_used;       /* used entries consumed */
    uint16_t free_head, num_free;
    uint16_t in_flight;
    uint64_t notifies; /* QueueNotify writes (kicks the device asked for) */
};

/* Resets the device and brings it to DRIVER_OK with queue 0 of min(QueueNumMax, qsize_limit)
 * entries and the features in d->mask it offers. d->index, d->base and d->mask are the inputs.
 * Returns 0, or -1 with a line printed saying why ("blk: dev N: ..."). */
int vblk_init(struct vblk* d);
/* Writes 0 to Status and waits for it to read 0. */
void vblk_reset(struct vblk* d);
uint32_t vblk_status(const struct vblk* d);
uint32_t vmmio_read32(uint64_t base, uint32_t off);
void vmmio_write32(uint64_t base, uint32_t off, uint32_t value);
static inline bool vblk_has(const struct vblk* d, unsigned feature) {
    return (d->features >> feature) & 1;
}

/* One data buffer of a request. */
struct vblk_buf {
    void* addr;
    uint32_t len;
};

/* Queues one request without notifying: header (type, sector), the data buffers (device-readable
 * for OUT, DISCARD, WRITE_ZEROES; device-writable for IN and GET_ID), then the status byte. With
 * `indirect` all of them go in one indirect table (at most VBLK_INDIRECT_MAX entries). Returns
 * the head descriptor index (the request's id), or -1 when the ring is full (poll first) or the
 * request does not fit. */
int vblk_submit(struct vblk* d, uint32_t type, uint64_t sector, const struct vblk_buf* bufs,
                unsigned n, bool indirect);
/* Publishes avail->idx and writes QueueNotify when the device asked for it (EVENT_IDX's
 * avail_event, or VRING_USED_F_NO_NOTIFY without EVENT_IDX). */
void vblk_kick(struct vblk* d);
/* A completed request, if any: true with its head and status byte (one memory read when none). */
bool vblk_poll(struct vblk* d, uint16_t* head, uint8_t* status);
/* Polls until a request completes. Returns its status byte (head in *head), or -1 if the device
 * sets DEVICE_NEEDS_RESET or nothing completes within `spins` pause loops (0: about a minute). */
int vblk_wait(struct vblk* d, uint16_t* head, uint64_t spins);
/* Submit + kick + wait for one request. Returns its status byte, or -1 (see vblk_wait). */
int vblk_do(struct vblk* d, uint32_t type, uint64_t sector, const struct vblk_buf* bufs, unsigned n,
            bool indirect);
/* The status byte's address of request `head` (hostile tests build their own chains with it). */
volatile uint8_t* vblk_status_byte(struct vblk* d, uint16_t head);
struct vblk_outhdr* vblk_header(struct vblk* d, uint16_t head);
/* Descriptors for hand-built chains: take all free descriptors (the ring must be idle) and put
 * `head` on the available ring (the caller kicks). vblk_init gives them back. */
void vblk_take_all(struct vblk* d);
void vblk_push_avail(struct vblk* d, uint16_t head);
/* A scratch indirect table of 2 * VBLK_QSIZE_MAX entries, page-aligned, per device. */
struct vq_desc* vblk_scratch_table(struct vblk* d);

#endif
