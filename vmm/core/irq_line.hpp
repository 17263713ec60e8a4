// IrqLine: how a device raises its interrupt. Implemented over an irqfd (KvmIrqLine: an
// eventfd that KVM turns into a pulse on a GSI, no ioctl per interrupt) and by tests (a
// counter). MSI routes will implement the same interface.
#pragma once

namespace ember {

class IrqLine {
public:
    IrqLine() = default;
    virtual ~IrqLine() = default;
    IrqLine(const IrqLine&) = delete;
    IrqLine& operator=(const IrqLine&) = delete;
    IrqLine(IrqLine&&) = delete;
    IrqLine& operator=(IrqLine&&) = delete;

    // Signals an edge on the line. Callable from any thread.
    virtual void trigger() = 0;
};

} // namespace ember
