#include "vmm/core/bus.hpp"

#include <algorithm>

namespace ember {

Result<void> Bus::insert(std::shared_ptr<BusDevice> device, uint64_t base, uint64_t len,
                         std::string device_name) {
    if (!device) return make_error(Errc::kInternal, "{} bus: '{}' is null", name_, device_name);
    if (len == 0 || base + len < base)
        return make_error(Errc::kInternal,
                          "{} bus: '{}' has an empty or wrapping range [{:#x}, +{:#x})", name_,
                          device_name, base, len);
    auto pos = std::lower_bound(entries_.begin(), entries_.end(), base,
                                [](const Entry& e, uint64_t b) { return e.base < b; });
    // Entries are sorted and disjoint: only the neighbours on either side can overlap.
    for (auto it : {pos, pos == entries_.begin() ? entries_.end() : std::prev(pos)}) {
        if (it == entries_.end() || !(base < it->base + it->len && it->base < base + len)) continue;
        return make_error(Errc::kInternal,
                          "{} bus: '{}' at [{:#x}, +{:#x}) overlaps '{}' at [{:#x}, +{:#x})", name_,
                          device_name, base, len, it->name, it->base, it->len);
    }
    entries_.insert(pos, Entry{base, len, std::move(device), std::move(device_name)});
    return {};
}

const Bus::Entry* Bus::find(uint64_t addr, uint64_t size) const {
    auto pos = std::upper_bound(entries_.begin(), entries_.end(), addr,
                                [](uint64_t a, const Entry& e) { return a < e.base; });
    if (pos == entries_.begin()) return nullptr;
    const Entry& e = *std::prev(pos);
    const uint64_t offset = addr - e.base;
    if (offset >= e.len || size > e.len - offset) return nullptr;
    return &e;
}

bool Bus::read(uint64_t addr, std::span<std::byte> data) const {
    const Entry* e = find(addr, data.size());
    if (e == nullptr) return false;
    e->device->read(addr - e->base, data);
    return true;
}

bool Bus::write(uint64_t addr, std::span<const std::byte> data) const {
    const Entry* e = find(addr, data.size());
    if (e == nullptr) return false;
    e->device->write(addr - e->base, data);
    return true;
}

bool Bus::write_string(uint64_t addr, std::span<const std::byte> data, size_t width) const {
    const Entry* e = find(addr, width);
    if (e == nullptr) return false;
    e->device->write_string(addr - e->base, data, width);
    return true;
}

} // namespace ember
