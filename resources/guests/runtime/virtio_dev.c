/* The polled virtio driver core (virtio_dev.h). */
#include "virtio_dev.h"

#include "guest.h"

#define PAGE_SIZE 4096
#define NO_NEXT 0xffff

struct vq_mem {
    struct vq_desc desc[VDEV_QSIZE_MAX];
    uint16_t avail[PAGE_SIZE / 2];
    uint16_t used[PAGE_SIZE / 2];
};
_Static_assert(sizeof(struct vq_desc) * VDEV_QSIZE_MAX == PAGE_SIZE, "descriptor table: a page");

static struct vq_mem vq_mem[VDEV_MAX_DEVS][VDEV_MAX_QUEUES] __attribute__((aligned(PAGE_SIZE)));

#define barrier() __asm__ volatile("" ::: "memory")
#define full_fence() __asm__ volatile("mfence" ::: "memory")

uint32_t vdev_status(const struct vdev* d) {
    return vmmio_read32(d->base, VIRTIO_MMIO_STATUS);
}

static void set_status(struct vdev* d, uint32_t bits) {
    vmmio_write32(d->base, VIRTIO_MMIO_STATUS, vdev_status(d) | bits);
}

uint8_t vdev_cfg8(const struct vdev* d, uint32_t off) {
    return *(volatile uint8_t*)(uintptr_t)(d->base + VIRTIO_MMIO_CONFIG + off);
}

uint16_t vdev_cfg16(const struct vdev* d, uint32_t off) {
    return *(volatile uint16_t*)(uintptr_t)(d->base + VIRTIO_MMIO_CONFIG + off);
}

static int fail(const struct vdev* d, const char* why, uint64_t value) {
    con_printf("vdev %u at 0x%lx: %s (0x%lx)\n", d->index, d->base, why, value);
    return -1;
}

bool vdev_find(struct vdev* d, const char* cmd, uint32_t device_id) {
    struct vmmio_window w[20];
    unsigned n = vmmio_find_windows(cmd, w, 20);
    for (unsigned i = 0; i < n; i++) {
        if (vmmio_read32(w[i].base, VIRTIO_MMIO_MAGIC_VALUE) != VIRTIO_MMIO_MAGIC) continue;
        if (vmmio_read32(w[i].base, VIRTIO_MMIO_DEVICE_ID) != device_id) continue;
        d->base = w[i].base;
        d->irq = w[i].irq;
        return true;
    }
    return false;
}

static void write_addr(struct vdev* d, uint32_t low_reg, const volatile void* p) {
    uint64_t a = (uint64_t)(uintptr_t)p;
    vmmio_write32(d->base, low_reg, (uint32_t)a);
    vmmio_write32(d->base, low_reg + 4, (uint32_t)(a >> 32));
}

static int setup_queue(struct vdev* d, unsigned qi) {
    struct vq* q = &d->q[qi];
    struct vq_mem* m = &vq_mem[d->index][qi];
    vmmio_write32(d->base, VIRTIO_MMIO_QUEUE_SEL, qi);
    uint32_t max = vmmio_read32(d->base, VIRTIO_MMIO_QUEUE_NUM_MAX);
    if (max == 0) return fail(d, "queue does not exist (QueueNumMax 0)", qi);
    uint16_t size = VDEV_QSIZE_MAX;
    while (size > max)
        size >>= 1;
    uint8_t* p = (uint8_t*)m;
    for (unsigned long i = 0; i < sizeof(*m); i++)
        p[i] = 0;
    q->size = size;
    q->desc = m->desc;
    q->avail = m->avail;
    q->used = m->used;
    q->avail_idx = q->kicked_idx = q->last_used = 0;
    q->free_head = 0;
    q->num_free = size;
    q->notifies = 0;
    for (uint16_t i = 0; i < size; i++)
        q->free_next[i] = (uint16_t)(i + 1 < size ? i + 1 : NO_NEXT);
    vmmio_write32(d->base, VIRTIO_MMIO_QUEUE_NUM, size);
    write_addr(d, VIRTIO_MMIO_QUEUE_DESC_LOW, q->desc);
    write_addr(d, VIRTIO_MMIO_QUEUE_AVAIL_LOW, q->avail);
    write_addr(d, VIRTIO_MMIO_QUEUE_USED_LOW, q->used);
    /* No interrupts: NO_INTERRUPT, or used_event kept half the index space ahead. */
    q->avail[0] = vdev_has(d, VIRTIO_RING_F_EVENT_IDX) ? 0 : VRING_AVAIL_F_NO_INTERRUPT;
    q->avail[2 + size] = 0x8000;
    vmmio_write32(d->base, VIRTIO_MMIO_QUEUE_READY, 1);
    if (vmmio_read32(d->base, VIRTIO_MMIO_QUEUE_READY) != 1)
        return fail(d, "QueueReady did not stick", qi);
    return 0;
}

int vdev_init(struct vdev* d, unsigned nqueues, uint64_t mask) {
    if (d->index >= VDEV_MAX_DEVS || nqueues > VDEV_MAX_QUEUES)
        return fail(d, "too many devices or queues", nqueues);
    if (vmmio_read32(d->base, VIRTIO_MMIO_VERSION) != 2)
        return fail(d, "virtio-mmio version is not 2", vmmio_read32(d->base, VIRTIO_MMIO_VERSION));
    vmmio_write32(d->base, VIRTIO_MMIO_STATUS, 0);
    set_status(d, VIRTIO_CONFIG_S_ACKNOWLEDGE);
    set_status(d, VIRTIO_CONFIG_S_DRIVER);
    vmmio_write32(d->base, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    uint64_t lo = vmmio_read32(d->base, VIRTIO_MMIO_DEVICE_FEATURES);
    vmmio_write32(d->base, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    uint64_t hi = vmmio_read32(d->base, VIRTIO_MMIO_DEVICE_FEATURES);
    d->offered = hi << 32 | lo;
    if (!(d->offered & BIT64(VIRTIO_F_VERSION_1)))
        return fail(d, "device does not offer VIRTIO_F_VERSION_1", d->offered);
    d->features = d->offered & (mask | BIT64(VIRTIO_F_VERSION_1));
    vmmio_write32(d->base, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    vmmio_write32(d->base, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)d->features);
    vmmio_write32(d->base, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    vmmio_write32(d->base, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(d->features >> 32));
    set_status(d, VIRTIO_CONFIG_S_FEATURES_OK);
    if (!(vdev_status(d) & VIRTIO_CONFIG_S_FEATURES_OK))
        return fail(d, "FEATURES_OK did not stick", vdev_status(d));
    d->nqueues = nqueues;
    for (unsigned i = 0; i < nqueues; i++)
        if (setup_queue(d, i) != 0) return -1;
    set_status(d, VIRTIO_CONFIG_S_DRIVER_OK);
    uint32_t status = vdev_status(d);
    if (status & (VIRTIO_CONFIG_S_NEEDS_RESET | VIRTIO_CONFIG_S_FAILED) ||
        !(status & VIRTIO_CONFIG_S_DRIVER_OK))
        return fail(d, "device refused DRIVER_OK (Status)", status);
    return 0;
}

int vq_add(struct vdev* d, unsigned qi, const struct vdev_buf* bufs, unsigned n) {
    struct vq* q = &d->q[qi];
    if (n == 0 || q->num_free < n) return -1;
    uint16_t head = q->free_head;
    uint16_t i = head;
    for (unsigned k = 0; k < n; k++) {
        struct vq_desc* e = &q->desc[i];
        e->addr = (uint64_t)(uintptr_t)bufs[k].addr;
        e->len = bufs[k].len;
        e->flags = bufs[k].writable ? VRING_DESC_F_WRITE : 0;
        uint16_t next = q->free_next[i];
        if (k + 1 < n) {
            e->flags |= VRING_DESC_F_NEXT;
            e->next = next;
        }
        i = next;
    }
    q->free_head = i;
    q->num_free = (uint16_t)(q->num_free - n);
    q->chain_len[head] = (uint16_t)n;
    q->avail[2 + (q->avail_idx & (q->size - 1))] = head;
    q->avail_idx++;
    return head;
}

void vq_kick(struct vdev* d, unsigned qi) {
    struct vq* q = &d->q[qi];
    uint16_t old = q->kicked_idx, now = q->avail_idx;
    if (old == now) return;
    barrier();
    q->avail[1] = now;
    q->kicked_idx = now;
    full_fence();
    bool notify;
    if (vdev_has(d, VIRTIO_RING_F_EVENT_IDX)) {
        uint16_t event = q->used[2 + 4 * q->size];
        notify = (uint16_t)(now - event - 1) < (uint16_t)(now - old);
    } else {
        notify = !(q->used[0] & VRING_USED_F_NO_NOTIFY);
    }
    if (notify) {
        vmmio_write32(d->base, VIRTIO_MMIO_QUEUE_NOTIFY, qi);
        q->notifies++;
    }
}

bool vq_poll(struct vdev* d, unsigned qi, uint16_t* head, uint32_t* len) {
    struct vq* q = &d->q[qi];
    if (q->last_used == q->used[1]) return false;
    barrier();
    const volatile uint32_t* elem =
        (const volatile uint32_t*)((const volatile uint8_t*)q->used + 4 +
                                   8 * (q->last_used & (q->size - 1)));
    uint32_t id = elem[0];
    *len = elem[1];
    q->last_used++;
    q->avail[2 + q->size] = (uint16_t)(q->last_used + 0x8000);
    if (id >= q->size) {
        *head = 0xffff;
        return true;
    }
    *head = (uint16_t)id;
    uint16_t i = (uint16_t)id;
    for (uint16_t k = q->chain_len[id]; k > 0; k--) {
        uint16_t next = q->desc[i].next;
        q->free_next[i] = q->free_head;
        q->free_head = i;
        q->num_free++;
        i = next;
    }
    q->chain_len[id] = 0;
    return true;
}

int vq_wait(struct vdev* d, unsigned qi, uint16_t* head, uint32_t* len, uint64_t spins) {
    if (spins == 0) spins = 1ull << 30;
    for (uint64_t i = 0; i < spins; i++) {
        if (vq_poll(d, qi, head, len)) return 0;
        if ((i & 0xffff) == 0xffff && (vdev_status(d) & VIRTIO_CONFIG_S_NEEDS_RESET)) return -1;
        __asm__ volatile("pause");
    }
    return -1;
}
