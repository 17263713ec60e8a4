#include "vmm/sys/event_fd.hpp"
#include "vmm/sys/exit_code.hpp"
#include "vmm/sys/mmap_region.hpp"
#include "vmm/sys/unique_fd.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace ember {
namespace {

bool is_open(int fd) {
    return ::fcntl(fd, F_GETFD) != -1;
}

TEST(UniqueFd, ClosesOnDestructionAndMoves) {
    int raw = ::dup(STDERR_FILENO);
    ASSERT_GE(raw, 0);
    {
        UniqueFd a(raw);
        UniqueFd b(std::move(a));
        EXPECT_FALSE(a.valid()); // NOLINT(bugprone-use-after-move): checking the moved-from state
        EXPECT_EQ(b.get(), raw);
        EXPECT_TRUE(is_open(raw));
    }
    EXPECT_FALSE(is_open(raw));
}

TEST(UniqueFd, ReleaseGivesUpOwnership) {
    int raw = ::dup(STDERR_FILENO);
    {
        UniqueFd a(raw);
        EXPECT_EQ(a.release(), raw);
    }
    EXPECT_TRUE(is_open(raw));
    ::close(raw);
}

TEST(EventFd, CountsAndResets) {
    auto ev = EventFd::create().value();
    EXPECT_EQ(ev.consume(), 0U);
    ev.signal(2);
    ev.signal(5);
    EXPECT_EQ(ev.consume(), 7U);
    EXPECT_EQ(ev.consume(), 0U);
}

TEST(MmapRegion, AnonymousMemoryIsZeroAndWritable) {
    auto m = MmapRegion::anonymous(1 << 20).value();
    EXPECT_EQ(m.size(), 1U << 20);
    EXPECT_EQ(m.data()[4096], std::byte{0});
    m.data()[4096] = std::byte{7};
    MmapRegion moved = std::move(m);
    EXPECT_EQ(moved.data()[4096], std::byte{7});
}

TEST(ExitCode, EveryErrorCategoryHasADistinctCode) {
    EXPECT_EQ(exit_code_for(Errc::kInvalidArgument), ExitCode::kBadArguments);
    EXPECT_EQ(exit_code_for(Errc::kInvalidInput), ExitCode::kBadInput);
    EXPECT_EQ(exit_code_for(Errc::kNotFound), ExitCode::kNoInput);
    EXPECT_EQ(exit_code_for(Errc::kUnavailable), ExitCode::kUnavailable);
    EXPECT_EQ(exit_code_for(Errc::kOsError), ExitCode::kOsError);
    EXPECT_EQ(exit_code_for(Errc::kInternal), ExitCode::kInternal);
}

TEST(Error, DescribeAppendsErrnoTextAndContextPrefixes) {
    Error e(Errc::kNotFound, "open 'x'", ENOENT);
    EXPECT_EQ(e.describe(), "open 'x': No such file or directory");
    Error c = Error(Errc::kInvalidInput, "bad magic").with_context("kernel 'k'");
    EXPECT_EQ(c.describe(), "kernel 'k': bad magic");
}

} // namespace
} // namespace ember
