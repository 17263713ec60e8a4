// Skips a test with a reason when this host cannot run KVM guests.
#pragma once

#include "vmm/core/kvm.hpp"

#include <gtest/gtest.h>

#define EMBER_REQUIRE_KVM()                                                                        \
    do {                                                                                           \
        if (auto kvm_check_ = ::ember::Kvm::open(); !kvm_check_)                                   \
            GTEST_SKIP() << "KVM unavailable: " << kvm_check_.error().describe();                  \
    } while (false)
