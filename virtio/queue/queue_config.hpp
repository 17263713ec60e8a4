// The state of one virtqueue as the driver programs it through a transport (virtio 1.x, 4.2.2:
// QueueSel/QueueNum/QueueReady and the three ring addresses). The transport owns and edits it;
// a device turns it into a Queue when the driver sets DRIVER_OK.
#pragma once

#include "vmm/core/guest_memory.hpp"

#include <cstdint>

namespace ember::virtio {

struct QueueConfig {
    uint16_t max_size = 0; // what the device offers (QueueNumMax); a power of two, at most 32768
    uint16_t size = 0;     // what the driver chose (QueueNum): 1..max_size, a power of two
    bool ready = false;    // QueueReady
    GuestAddr desc = 0;    // descriptor table: 16 * size bytes, 16-byte aligned
    GuestAddr avail = 0;   // driver (available) ring: 6 + 2 * size bytes, 2-byte aligned
    GuestAddr used = 0;    // device (used) ring: 6 + 8 * size bytes, 4-byte aligned
};

} // namespace ember::virtio
