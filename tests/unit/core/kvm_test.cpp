#include "vmm/core/kvm.hpp"

#include <gtest/gtest.h>

namespace ember {
namespace {

TEST(Kvm, MissingDeviceSaysKvmIsUnavailableAndWhatToDo) {
    auto kvm = Kvm::open("/nonexistent/kvm");
    ASSERT_FALSE(kvm.has_value());
    EXPECT_EQ(kvm.error().code(), Errc::kUnavailable);
    EXPECT_NE(kvm.error().message().find("/nonexistent/kvm does not exist"), std::string::npos);
    EXPECT_NE(kvm.error().message().find("kvm_intel or kvm_amd"), std::string::npos);
}

TEST(Kvm, ADeviceThatIsNotKvmFailsTheApiCheck) {
    // /dev/null opens read-write but answers no KVM ioctl.
    auto kvm = Kvm::open("/dev/null");
    ASSERT_FALSE(kvm.has_value());
    EXPECT_EQ(kvm.error().code(), Errc::kUnavailable);
    EXPECT_NE(kvm.error().message().find("/dev/null is not a KVM device"), std::string::npos);
}

} // namespace
} // namespace ember
