// TempFile: a file with given contents under EMBER_TEST_TMPDIR (or /tmp), removed when the
// test ends; for the disk and overlay tests.
#pragma once

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#ifndef EMBER_TEST_TMPDIR
#define EMBER_TEST_TMPDIR "/tmp"
#endif

namespace ember::virtio::block::testing {

using Bytes = std::vector<uint8_t>;

// A file under EMBER_TEST_TMPDIR, removed when the test ends.
class TempFile {
public:
    explicit TempFile(const Bytes& content, const char* prefix = "disk") {
        ::mkdir(EMBER_TEST_TMPDIR, 0700); // may exist already
        std::string pattern = std::string(EMBER_TEST_TMPDIR) + "/" + prefix + "-XXXXXX";
        const int fd = ::mkstemp(pattern.data());
        EXPECT_GE(fd, 0) << "mkstemp in " << EMBER_TEST_TMPDIR;
        path_ = pattern;
        EXPECT_EQ(::write(fd, content.data(), content.size()),
                  static_cast<ssize_t>(content.size()));
        ::close(fd);
    }
    ~TempFile() { ::unlink(path_.c_str()); }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
    TempFile(TempFile&&) = delete;
    TempFile& operator=(TempFile&&) = delete;

    [[nodiscard]] const std::string& path() const { return path_; }
    [[nodiscard]] Bytes content() const {
        struct stat st {};
        EXPECT_EQ(::stat(path_.c_str(), &st), 0);
        Bytes out(static_cast<size_t>(st.st_size));
        const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
        EXPECT_EQ(::pread(fd, out.data(), out.size(), 0), static_cast<ssize_t>(out.size()));
        ::close(fd);
        return out;
    }
    void patch(uint64_t offset, const void* data, size_t len) const {
        const int fd = ::open(path_.c_str(), O_WRONLY | O_CLOEXEC);
        EXPECT_EQ(::pwrite(fd, data, len, static_cast<off_t>(offset)), static_cast<ssize_t>(len));
        ::close(fd);
    }

private:
    std::string path_;
};

// Bytes that differ from offset to offset (and from seed to seed), so misplaced data shows.
inline Bytes pattern(size_t size, uint8_t seed) {
    Bytes out(size);
    for (size_t i = 0; i < size; ++i)
        out[i] = static_cast<uint8_t>(i * 7 + i / 251 + seed);
    return out;
}

inline iovec iov(Bytes& b, size_t offset, size_t len) {
    return iovec{b.data() + offset, len};
}

} // namespace ember::virtio::block::testing
