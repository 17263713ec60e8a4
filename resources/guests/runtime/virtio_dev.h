/* A small polled virtio driver core for test guests, for devices other than virtio-blk
 * (virtio_blk.h keeps its own): virtio 1.x over virtio-mmio version 2, up to VDEV_MAX_QUEUES
 * split virtqueues per device in static memory, no interrupts. Chains are lists of buffers,
 * each device-readable or device-writable; completions are found by polling used->idx. Runs in
 * ring 3 like the rest of the guest (identity map: virtual = physical).
 *
 * Register offsets, status bits and ring constants come from virtio_blk.h. */
#ifndef EMBER_GUEST_VIRTIO_DEV_H
#define EMBER_GUEST_VIRTIO_DEV_H

#include "virtio_blk.h"

#include <stdbool.h>
#include <stdint.h>

#define VDEV_MAX_DEVS 2
#define VDEV_MAX_QUEUES 3
#define VDEV_QSIZE_MAX 256

struct vq {
    uint16_t size;
    struct vq_desc* desc;
    volatile uint16_t* avail; /* flags, idx, ring[size], used_event */
    volatile uint16_t* used;  /* flags, idx, ring[size] of {u32 id, u32 len}, avail_event */
    uint16_t avail_idx, kicked_idx, last_used;
    uint16_t free_head, num_free;
    uint16_t free_next[VDEV_QSIZE_MAX];
    uint16_t chain_len[VDEV_QSIZE_MAX];
    uint64_t notifies;
};

struct vdev {
    unsigned index; /* 0 .. VDEV_MAX_DEVS-1: which static ring memory it uses */
    uint64_t base;
    uint32_t irq;
    uint64_t offered, features;
    unsigned nqueues;
    struct vq q[VDEV_MAX_QUEUES];
};

/* One buffer of a chain. */
struct vdev_buf {
    const volatile void* addr;
    uint32_t len;
    bool writable;
};

/* Finds the first window on the command line whose DeviceID is `device_id`: true with d->base
 * and d->irq set. */
bool vdev_find(struct vdev* d, const char* cmdline, uint32_t device_id);
/* Resets the device and negotiates: features = offered & mask (VERSION_1 required), then sets
 * up `nqueues` queues of min(QueueNumMax, VDEV_QSIZE_MAX) and sets DRIVER_OK. Returns 0, or -1
 * with a line saying why. Read the config space (vdev_cfg*) any time after. */
int vdev_init(struct vdev* d, unsigned nqueues, uint64_t mask);
static inline bool vdev_has(const struct vdev* d, unsigned feature) {
    return (d->features >> feature) & 1;
}
uint32_t vdev_status(const struct vdev* d);
uint8_t vdev_cfg8(const struct vdev* d, uint32_t off);
uint16_t vdev_cfg16(const struct vdev* d, uint32_t off);

/* Queues a chain without notifying (readable buffers must come first). Returns its head, or -1
 * when the ring has too few free descriptors. */
int vq_add(struct vdev* d, unsigned q, const struct vdev_buf* bufs, unsigned n);
/* Publishes avail->idx and notifies when the device asked for it (EVENT_IDX or NO_NOTIFY). */
void vq_kick(struct vdev* d, unsigned q);
/* A used chain, if any: true with its head and written length; its descriptors are free again. */
bool vq_poll(struct vdev* d, unsigned q, uint16_t* head, uint32_t* len);
/* Polls until a chain is used: 0 with head and len, or -1 on DEVICE_NEEDS_RESET or after
 * `spins` empty polls (0: about a minute). */
int vq_wait(struct vdev* d, unsigned q, uint16_t* head, uint32_t* len, uint64_t spins);

#endif
